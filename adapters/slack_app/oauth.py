"""Installing Paperboy in many workspaces: Bolt's OAuth flow, with the tokens and one-time states
kept in Paperboy's own database (``installations``), and a friendly page when Slack cannot be
reached to finish an install."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import ClientError
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_callback_options import AsyncFailureArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app.installations import SlackInstallationStore, SlackOAuthStateStore
from bot.storage import Store

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# The least that works: the slash command, posting and updating our own messages, unfurls,
# export files, direct messages (reminders), reading thread replies to count discussion, and
# users.info (whether someone is a workspace admin, for `settings channel-changes`).
BOT_SCOPES = (
    "commands", "chat:write", "links:read", "links:write", "files:write", "im:write",
    "channels:history", "groups:history", "users:read",
)  # fmt: skip
UNREACHABLE_REASON = "slack_unreachable"


class OAuthFlow(AsyncOAuthFlow):
    """Bolt's flow, except that losing Slack halfway through the callback's ``oauth.v2.access``
    shows the failure page (with its link to try again) instead of answering 500."""

    async def handle_callback(self, request: AsyncBoltRequest) -> BoltResponse:
        try:
            return await super().handle_callback(request)
        except (TimeoutError, ClientError, OSError) as error:
            # The one-time state is spent; trying again from the install page issues a new one.
            log.warning("a Slack install could not finish: Slack was unreachable (%s)",
                        type(error).__name__)  # fmt: skip
            return await self.failure_handler(
                AsyncFailureArgs(
                    request=request, reason=UNREACHABLE_REASON, suggested_status_code=502,
                    settings=self.settings, default=self.default_callback_options,
                )
            )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MultiWorkspace:
    """What a multi-workspace Bolt app is built with."""

    installations: SlackInstallationStore
    oauth_settings: AsyncOAuthSettings
    oauth_flow: OAuthFlow
    authorize: AsyncInstallationStoreAuthorize


def multi_workspace(
    store: Store, client: AsyncWebClient, client_id: str, client_secret: str,
    logger: logging.Logger,
) -> MultiWorkspace:  # fmt: skip
    """Every OAuth setting spelled out, so Bolt falls back to no SLACK_* environment variable."""
    installations = SlackInstallationStore(store)
    settings = AsyncOAuthSettings(
        client_id=client_id, client_secret=client_secret, scopes=list(BOT_SCOPES), user_scopes=[],
        redirect_uri=None, install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH,
        installation_store=installations, installation_store_bot_only=True,
        state_store=SlackOAuthStateStore(store), logger=logger,
    )  # fmt: skip
    authorize = AsyncInstallationStoreAuthorize(
        logger=logger, installation_store=installations, client_id=client_id,
        client_secret=client_secret, bot_only=True, cache_enabled=True, client=client,
    )  # fmt: skip
    flow = OAuthFlow(client=client, logger=logger, settings=settings)
    return MultiWorkspace(installations, settings, flow, authorize)
