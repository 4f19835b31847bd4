"""The Slack app: one Bolt ``AsyncApp`` wired to Paperboy's core, from settings alone.

The adapter only translates. Slack payloads in (``listeners``), platform-neutral commands to the
core, Block Kit out (``blocks``). Two ways in, one app: HTTP (``http``) or Socket Mode
(``socket_mode``); one way out for the scheduler (``poster``); installable in many workspaces
through OAuth (``oauth``, ``installations``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app.installations import SlackInstallationStore
from adapters.slack_app.listeners import ACK_BUDGET_SECONDS, Listeners
from adapters.slack_app.logs import redacting_logger
from adapters.slack_app.oauth import multi_workspace
from bot.commands import Paperboy
from bot.config import ConfigError, Settings
from bot.storage import Store

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


class SlackApp(AsyncApp):
    """A Bolt ``AsyncApp`` that also carries what Paperboy's servers need to know about it."""

    def __init__(
        self,
        *,
        verifier: SignatureVerifier | None,
        installations: SlackInstallationStore | None,
        store: Store | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.verifier = verifier
        self.installations = installations
        self.store = store
        self.inflight: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run work that answers after the ack (response_url, chat.update, chat.unfurl); a
        shutdown waits for it, and a failure is logged rather than lost."""
        task = asyncio.ensure_future(work)
        self.inflight.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack follow-up work failed", exc_info=task.exception())

    async def drain(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Wait (up to ``grace`` seconds) for follow-up work still answering Slack."""
        while pending := {task for task in self.inflight if not task.done()}:
            done, _ = await asyncio.wait(pending, timeout=grace)
            if not done:
                log.warning("stopped with %d Slack answers unsent", len(pending))
                return


def build_slack_app(
    bot: Paperboy,
    settings: Settings,
    *,
    store: Store,
    ack_budget: float = ACK_BUDGET_SECONDS,
    clock: Callable[[], float] = time.time,  # wall time: retry keys are shared by workers
) -> SlackApp:
    """The Bolt app for Paperboy, from settings alone.

    Multi-workspace (OAuth install, tokens in the database) when ``SLACK_CLIENT_ID`` and
    ``SLACK_CLIENT_SECRET`` are set; otherwise one workspace with ``SLACK_BOT_TOKEN``.
    """
    multi = bool(settings.slack_client_id and settings.slack_client_secret)
    bot_token = settings.slack_bot_token.value if settings.slack_bot_token else None
    if not multi and not bot_token:
        raise ConfigError(
            "Slack needs SLACK_BOT_TOKEN (one workspace), or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET (installable in many workspaces)."
        )
    refuse_bolt_fallbacks(os.environ, multi=multi)
    logger = redacting_logger()
    signing_secret = settings.slack_signing_secret.value if settings.slack_signing_secret else None
    common: dict[str, Any] = {
        "name": "paperboy",
        "logger": logger,
        # Listeners ack themselves and hand slow work to SlackApp.spawn, so Bolt need not
        # poll for the ack (which costs ~10 ms a request and CPU under load).
        "process_before_response": True,
        # The HTTP server checks each signature once, on the raw bytes, before anything is
        # parsed, and answers ssl_check itself; Socket Mode requests are not signed. Bolt's own
        # checks would only repeat that work (and read SLACK_* variables to do it).
        "verifier": SignatureVerifier(signing_secret) if signing_secret else None,
        "signing_secret": "",
        "request_verification_enabled": False,
        "ssl_check_enabled": False,
    }
    if multi:
        app = _multi_workspace_app(settings, store, logger, common)
    else:
        assert bot_token is not None
        # Given the token, Bolt builds the client itself and looks for no SLACK_BOT_TOKEN (given
        # a client too, it would look, and warn that the token went unused).
        app = SlackApp(installations=None, store=store, token=bot_token, **common)
        app.client.base_url = api_base_url(settings)
    Listeners(app, bot, store, app.installations, ack_budget=ack_budget, clock=clock).register()
    return app


def _multi_workspace_app(
    settings: Settings, store: Store, logger: logging.Logger, common: dict[str, Any]
) -> SlackApp:
    assert settings.slack_client_id and settings.slack_client_secret
    client = AsyncWebClient(token=None, base_url=api_base_url(settings), logger=logger)
    wiring = multi_workspace(
        store, client, settings.slack_client_id, settings.slack_client_secret.value, logger
    )
    return SlackApp(
        installations=wiring.installations, store=store, client=client,
        oauth_settings=wiring.oauth_settings, oauth_flow=wiring.oauth_flow,
        authorize=wiring.authorize,
        installation_store=wiring.installations, installation_store_bot_only=True, **common,
    )  # fmt: skip


def refuse_bolt_fallbacks(environ: Mapping[str, str], *, multi: bool) -> None:
    """Bolt reads a few SLACK_* variables whatever it is given: a one-workspace app turns into an
    OAuth app (with files in the home directory) when SLACK_CLIENT_ID and SLACK_CLIENT_SECRET
    exist, even empty, and the install flow takes SLACK_REDIRECT_URI. Paperboy's settings are
    the only source, so rather than let those change the app behind them, refuse to start."""
    found = []
    if not multi and "SLACK_CLIENT_ID" in environ and "SLACK_CLIENT_SECRET" in environ:
        found = ["SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"]
    if multi and environ.get("SLACK_REDIRECT_URI"):
        found = ["SLACK_REDIRECT_URI"]
    if found:
        them = "them" if len(found) > 1 else "it"
        raise ConfigError(
            f"{' and '.join(found)} {'are' if len(found) > 1 else 'is'} set in the environment, "
            f"where Bolt (the Slack library) would act on {them} behind Paperboy's settings: unset "
            f"{them} (for many workspaces, give SLACK_CLIENT_ID and SLACK_CLIENT_SECRET values)."
        )


def api_base_url(settings: Settings) -> str:
    """The Web API base URL (``SLACK_API_URL``), with the trailing slash slack_sdk expects."""
    url = settings.slack_api_url or AsyncWebClient.BASE_URL
    return url if url.endswith("/") else url + "/"
