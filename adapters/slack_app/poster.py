"""The scheduler's way out: digests and notices posted with chat.postMessage, paced per channel,
429s honoured, and Slack's refusals sorted into ones worth retrying and ones that are not."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app.blocks import SlackMessage, render
from adapters.slack_app.installations import PLATFORM, SlackInstallationStore
from adapters.slack_app.payloads import api_error
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.replies import Reply

if TYPE_CHECKING:
    from adapters.slack_app.app import SlackApp

log = logging.getLogger(__name__)

# Errors that retrying will not fix: the scheduler pauses the channel after repeated ones.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "account_inactive",
        "token_revoked", "token_expired", "invalid_auth", "not_authed", "no_permission",
        "missing_scope", "team_access_not_granted", "restricted_action", "ekm_access_denied",
        "org_login_required", "team_not_found", "not_allowed_token_type", "app_uninstalled",
    }
)  # fmt: skip


@dataclass
class SlackPoster:
    """Posts replies with chat.postMessage: paced per channel, 429s honoured, errors sorted.

    In multi-workspace mode the bot token is looked up per workspace from the installations.
    """

    client: AsyncWebClient
    installations: SlackInstallationStore | None = None
    min_interval: float = 1.0
    max_attempts: int = 3
    max_retry_after: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    platform: str = PLATFORM
    _last_post: dict[ChannelRef, float] = field(default_factory=dict, repr=False)
    _locks: weakref.WeakValueDictionary[ChannelRef, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary, repr=False
    )

    @classmethod
    def for_app(cls, app: SlackApp, **options: Any) -> SlackPoster:
        """A poster sharing the app's Web API client and installations."""
        return cls(app.client, app.installations, **options)

    async def post(self, channel: ChannelRef, reply: Reply) -> None:
        if channel.platform != self.platform:
            raise DeliveryError(f"{channel} is not a Slack channel", permanent=True)
        token = await self._token(channel)
        message = render(reply)
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._last_post.get(channel, -self.min_interval) + self.min_interval
            wait -= self.clock()
            if wait > 0:
                await self.sleep(wait)
            try:
                await self._send(channel, token, message)
            finally:
                self._last_post[channel] = self.clock()

    async def _token(self, channel: ChannelRef) -> str | None:
        if self.installations is None:
            return None  # one workspace: the client's own token
        bot = await self.installations.find_bot_for_team(channel.workspace)
        if bot is None:
            log.warning("no Slack installation for team %s; not posting to %s",
                        channel.workspace, channel)  # fmt: skip
            raise DeliveryError("Paperboy is not installed in this Slack workspace", permanent=True)
        return bot.bot_token

    async def _send(self, channel: ChannelRef, token: str | None, message: SlackMessage) -> None:
        blocks: list[dict[str, Any]] | None = [dict(block) for block in message.blocks]
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self.client.chat_postMessage(
                    channel=channel.channel, text=message.text, blocks=blocks, token=token,
                    unfurl_links=False, unfurl_media=False,
                )  # fmt: skip
                return
            except SlackApiError as error:
                code = api_error(error)
                if error.response.status_code == 429 or code == "ratelimited":
                    delay = _retry_after(error.response.headers)
                    if attempt < self.max_attempts and delay <= self.max_retry_after:
                        log.info("Slack rate-limited %s; retrying in %.0f s", channel, delay)
                        await self.sleep(delay)
                        continue
                    raise DeliveryError(
                        f"rate limited by Slack ({code})", permanent=False
                    ) from None
                if code in {"invalid_blocks", "invalid_blocks_format"} and blocks is not None:
                    log.warning("Slack refused the blocks for %s (%s); sending text", channel, code)
                    blocks = None
                    continue
                permanent = code in PERMANENT_ERRORS
                log.warning("could not post to %s: %s%s", channel, code,
                            " (permanent)" if permanent else "")  # fmt: skip
                raise DeliveryError(code, permanent=permanent) from None
            except (TimeoutError, ClientError, OSError) as error:
                log.warning("could not reach Slack to post to %s: %s", channel, error)
                raise DeliveryError(f"Slack unreachable: {error}", permanent=False) from None
        raise DeliveryError("gave up after repeated attempts", permanent=False)


def _retry_after(headers: Mapping[str, Any] | None) -> float:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(float(raw), 0.0)
            except (TypeError, ValueError):
                break
    return 1.0
