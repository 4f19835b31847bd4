"""Socket Mode: Slack over a WebSocket, for a bot without a public URL (an ``xapp-`` token)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from adapters.slack_app.app import SlackApp
from adapters.slack_app.logs import redacting_logger
from bot.config import ConfigError

log = logging.getLogger(__name__)


@dataclass
class SocketModeConnection:
    """A live Socket Mode connection; ``close()`` lets in-flight answers finish, then stops."""

    app: AsyncApp
    handler: AsyncSocketModeHandler

    async def close(self) -> None:
        if isinstance(self.app, SlackApp):
            await self.app.drain()
        await self.handler.close_async()  # type: ignore[no-untyped-call]


async def start_socket_mode(app: AsyncApp, app_token: str) -> SocketModeConnection:
    """Connect to Slack over a WebSocket (no public URL needed) with an ``xapp-`` token."""
    if not app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-.")
    handler = AsyncSocketModeHandler(app, app_token, logger=redacting_logger())
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("connected to Slack in Socket Mode")
    return SocketModeConnection(app, handler)
