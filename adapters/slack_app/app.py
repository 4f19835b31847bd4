"""The Slack adapter: Slack payloads in, platform-neutral commands to the core, Block Kit out.

It only translates. A slash command becomes a ``Command``; an Upvote click becomes ``vote <id>``;
a pasted paper link becomes ``share <url>``; whatever the core answers is rendered by
``adapters.slack_blocks``. Nothing here knows how papers are found, ranked or voted on.

Two ways in, one Bolt app: HTTP (``serve_http``: ``/slack/events`` for commands, interactivity
and events, the OAuth install pages when multi-workspace, and ``/healthz``) or Socket Mode
(``start_socket_mode``). One way out for the scheduler: ``SlackPoster``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app.blocks import VOTE_ACTION_ID, SlackMessage, render, unfurl, with_vote_count
from adapters.slack_app.installations import (
    PLATFORM,
    REVOKED_REASON,
    UNINSTALLED_REASON,
    SlackInstallationStore,
    SlackOAuthStateStore,
    pause_workspace,
)
from bot.commands import Paperboy
from bot.config import ConfigError, Settings
from bot.ids import find_paper_links
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.replies import Command, Notice, PaperDetail, Reply, VoteRecorded
from bot.storage import Store

__all__ = [
    "BOT_SCOPES",
    "EVENTS_PATH",
    "HEALTH_PATH",
    "HttpServer",
    "SlackApp",
    "SlackPoster",
    "SocketModeConnection",
    "build_slack_app",
    "serve_http",
    "start_socket_mode",
]

log = logging.getLogger(__name__)


class _RedactSecrets(logging.Filter):
    """slack_sdk logs whole requests and responses at DEBUG through the logger we give it,
    including the OAuth exchange that carries a new bot token: blank out anything secret."""

    _PATTERNS = (
        (re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]+"), r"\1-***"),
        (
            re.compile(
                r"(?i)\b(access_token|refresh_token|bot_token|client_secret|code|token)"
                r"(['\"]?\s*[:=]\s*['\"]?)[^'\",&\s}]+"
            ),
            r"\1\2***",
        ),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for pattern, replacement in self._PATTERNS:
            text = pattern.sub(replacement, text)
        record.msg, record.args = text, None
        return True


log.addFilter(_RedactSecrets())

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# The least that works: the slash command, posting and updating our own messages, unfurls.
BOT_SCOPES = ("commands", "chat:write", "links:read", "links:write")

ACK_BUDGET_SECONDS = 1.5  # answer in the ack if the core is this quick; Slack allows 3 s
DOUBLE_CLICK_SECONDS = 1.5  # a second click on the same button this soon is the same click
RETRY_TTL_SECONDS = 600.0  # how long a delivery id (trigger_id, event_id) is remembered
MAX_LINKS_PER_MESSAGE = 5
MAX_BODY_BYTES = 1024 * 1024
MAX_REQUEST_AGE_SECONDS = 5 * 60
SHUTDOWN_GRACE_SECONDS = 5.0
RECEIVED_AT = "paperboy_received_at"  # request context key: time.monotonic() on arrival

WORKING_TEXT = "Looking that up… I'll answer here in a moment."
MALFORMED_TEXT = "Sorry, I could not read that request from Slack. Please try the command again."
FAILED_TEXT = "Sorry, something went wrong on my side. It is logged; please try again in a moment."

# Errors that retrying will not fix: the scheduler pauses the channel after repeated ones.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "account_inactive",
        "token_revoked", "token_expired", "invalid_auth", "not_authed", "no_permission",
        "missing_scope", "team_access_not_granted", "restricted_action", "ekm_access_denied",
        "org_login_required", "team_not_found", "not_allowed_token_type", "app_uninstalled",
    }
)  # fmt: skip


class SlackApp(AsyncApp):
    """A Bolt ``AsyncApp`` that also carries what Paperboy's servers need to know about it."""

    def __init__(
        self,
        *,
        verifier: SignatureVerifier | None,
        installations: SlackInstallationStore | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.verifier = verifier
        self.installations = installations
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
    client: AsyncWebClient | None = None,
    ack_budget: float = ACK_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> SlackApp:
    """The Bolt app for Paperboy, from settings alone (nothing is read from the environment).

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
    if client is None:
        client = AsyncWebClient(
            token=None if multi else bot_token, base_url=api_base_url(settings), logger=log
        )
    signing_secret = settings.slack_signing_secret.value if settings.slack_signing_secret else None
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    common: dict[str, Any] = {
        "name": "paperboy",
        # Listeners ack themselves and hand slow work to SlackApp.spawn, so Bolt need not
        # poll for the ack (which costs ~10 ms a request and CPU under load).
        "process_before_response": True,
        "client": client,
        # Without a signing secret no HTTP request can verify (serve_http refuses to start);
        # Socket Mode does not sign requests, so it still works.
        "signing_secret": signing_secret or _unguessable(),
    }
    with _bolt_environment_hidden():
        app = _bolt_app(settings, store, client, common, verifier, multi)
    listeners = _Listeners(app, bot, store, app.installations, ack_budget=ack_budget, clock=clock)
    listeners.register()
    return app


def _bolt_app(
    settings: Settings, store: Store, client: AsyncWebClient, common: dict[str, Any],
    verifier: SignatureVerifier | None, multi: bool,
) -> SlackApp:  # fmt: skip
    if multi:
        assert settings.slack_client_id and settings.slack_client_secret
        installations = SlackInstallationStore(store)
        client_secret = settings.slack_client_secret.value
        oauth = AsyncOAuthSettings(
            client_id=settings.slack_client_id, client_secret=client_secret,
            scopes=list(BOT_SCOPES), user_scopes=[], install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH, installation_store=installations,
            installation_store_bot_only=True, state_store=SlackOAuthStateStore(store),
            logger=log,
        )  # fmt: skip
        authorize = AsyncInstallationStoreAuthorize(
            logger=log, installation_store=installations, client_id=settings.slack_client_id,
            client_secret=client_secret, bot_only=True, cache_enabled=True, client=client,
        )  # fmt: skip
        return SlackApp(
            verifier=verifier, installations=installations, oauth_settings=oauth,
            authorize=authorize, installation_store=installations,
            installation_store_bot_only=True, **common,
        )  # fmt: skip
    return SlackApp(verifier=verifier, installations=None, **common)


@contextlib.contextmanager
def _bolt_environment_hidden() -> Iterator[None]:
    """Bolt falls back to SLACK_* environment variables for whatever it is not given (and would
    quietly turn on its OAuth flow if it found SLACK_CLIENT_ID). Paperboy passes everything in
    from Settings, so those variables are hidden while Bolt builds the app."""
    hidden = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("SLACK_")}
    try:
        yield
    finally:
        os.environ.update(hidden)


def api_base_url(settings: Settings) -> str:
    """The Web API base URL (``SLACK_API_URL``), with the trailing slash slack_sdk expects."""
    url = settings.slack_api_url or AsyncWebClient.BASE_URL
    return url if url.endswith("/") else url + "/"


# -- listeners ----------------------------------------------------------------------------------


class _Malformed(ValueError):
    """A payload without the fields every request of its kind carries."""


@dataclass
class _Listeners:
    app: SlackApp
    bot: Paperboy
    store: Store
    installations: SlackInstallationStore | None
    ack_budget: float
    clock: Callable[[], float]
    _deliveries: _RecentKeys = field(init=False)
    _clicks: _RecentKeys = field(init=False)
    _message_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = field(
        init=False, default_factory=weakref.WeakValueDictionary
    )

    def __post_init__(self) -> None:
        self._deliveries = _RecentKeys(RETRY_TTL_SECONDS, clock=self.clock)
        self._clicks = _RecentKeys(DOUBLE_CLICK_SECONDS, clock=self.clock)

    def register(self) -> None:
        self.app.command(re.compile(r"^/"))(self.on_command)
        self.app.action(VOTE_ACTION_ID)(self.on_vote)
        self.app.event("link_shared")(self.on_link_shared)
        self.app.event("app_uninstalled")(self.on_app_uninstalled)
        self.app.event("tokens_revoked")(self.on_tokens_revoked)

    # -- /papers ------------------------------------------------------------------------------

    async def on_command(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:  # fmt: skip
        try:
            command = _command_from_slash(body)
        except _Malformed as error:
            log.info("malformed slash command: %s", error)
            await ack(response_type="ephemeral", text=MALFORMED_TEXT)
            return
        # The budget runs from when the request arrived: under load it may have queued a while.
        received = context.get(RECEIVED_AT)
        waited = time.monotonic() - received if isinstance(received, float) else 0.0
        work = asyncio.ensure_future(self.bot.handle(command))
        done, _ = await asyncio.wait({work}, timeout=max(self.ack_budget - waited, 0.0))
        if work in done:
            await ack(**_render_safely(work.result()).payload())
            return
        await ack(response_type="ephemeral", text=WORKING_TEXT)
        self.app.spawn(self._answer_later(work, respond))

    async def _answer_later(self, work: asyncio.Future[Reply], respond: AsyncRespond) -> None:
        message = _render_safely(await work)
        try:
            await respond(**message.payload())
        except (TimeoutError, ClientError, OSError) as error:
            log.warning("could not answer /papers through response_url: %s", error)

    # -- Upvote button --------------------------------------------------------------------------

    async def on_vote(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        try:
            click = _click_from_action(body)
        except _Malformed as error:
            log.info("malformed vote action: %s", error)
            return
        if self._deliveries.seen(f"action:{click.delivery_id}"):
            log.info("ignored a repeated delivery of vote click %s", click.delivery_id)
            return
        if self._clicks.seen(f"{click.channel.workspace}:{click.user}:{click.paper_id}"):
            log.info("ignored a double click by %s on %s", click.user, click.paper_id)
            return
        self.app.spawn(self._vote(click, respond, client))

    async def _vote(self, click: _Click, respond: AsyncRespond, client: AsyncWebClient) -> None:
        lock = self._message_locks.setdefault(click.message_key, asyncio.Lock())
        async with lock:  # one toggle-and-redraw at a time per message, in click order
            reply = await self.bot.handle(
                Command(click.channel, click.user, f"vote {click.paper_id}")
            )
            if not isinstance(reply, VoteRecorded):
                await _respond_quietly(respond, **_render_safely(reply).payload())
                return
            await self._redraw(click, reply, respond, client)

    async def _redraw(
        self, click: _Click, reply: VoteRecorded, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """Show the new count where the button is; tell the clicker what *they* did, since the
        count on the button is the team's."""
        count = reply.card.team_votes
        redrawn_for_clicker_only = False
        if click.unfurl_url is not None:
            try:
                await client.chat_unfurl(
                    channel=click.channel.channel, ts=click.message_ts,
                    unfurls={click.unfurl_url: unfurl(reply.card)},
                )  # fmt: skip
            except SlackApiError as error:
                log.info("could not redraw the unfurl: %s", _api_error(error))
        else:
            blocks = with_vote_count(click.blocks, click.block_id, click.paper_id, count)
            if blocks is None:
                # Slack leaves the message out of clicks on some ephemeral messages.
                log.info("vote clicked on a message Slack did not send; confirming only")
            elif click.ephemeral:
                await _respond_quietly(respond, replace_original=True, blocks=blocks,
                                       text=click.message_text)  # fmt: skip
                redrawn_for_clicker_only = True
            else:
                try:
                    await client.chat_update(
                        channel=click.channel.channel, ts=click.message_ts, blocks=blocks,
                        text=click.message_text,
                    )  # fmt: skip
                except SlackApiError as error:
                    log.info("chat.update failed (%s); replacing through response_url",
                             _api_error(error))  # fmt: skip
                    await _respond_quietly(respond, replace_original=True, blocks=blocks,
                                           text=click.message_text)  # fmt: skip
        if not redrawn_for_clicker_only:
            await _respond_quietly(respond, response_type="ephemeral", replace_original=False,
                                   text=render(reply).text)  # fmt: skip

    # -- pasted links -----------------------------------------------------------------------------

    async def on_link_shared(
        self, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        event = body.get("event")
        team = context.team_id or body.get("team_id")
        if not isinstance(event, dict) or not isinstance(team, str):
            log.info("ignored a link_shared event without a team or event")
            return
        event_id = body.get("event_id")
        if isinstance(event_id, str) and self._deliveries.seen(f"event:{event_id}"):
            log.info("ignored a repeated delivery of event %s", event_id)
            return
        user, channel = event.get("user"), event.get("channel")
        if not isinstance(user, str) or not isinstance(channel, str):
            return
        if user == context.bot_user_id:
            return  # our own digests carry links; they are not shares
        urls = [
            link["url"] for link in event.get("links") or []
            if isinstance(link, dict) and isinstance(link.get("url"), str)
            and find_paper_links(link["url"])
        ][:MAX_LINKS_PER_MESSAGE]  # fmt: skip
        if urls:  # anything that is not a paper link: say nothing
            self.app.spawn(self._share_links(ChannelRef(PLATFORM, team, channel), user, urls,
                                             event, client))  # fmt: skip

    async def _share_links(
        self, where: ChannelRef, user: str, urls: list[str], event: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:  # fmt: skip
        composer = event.get("source") == "composer" or where.channel == "COMPOSER"
        # A message still being written is not a share yet: only show the card.
        verb = "show" if composer else "share"
        unfurls: dict[str, Any] = {}
        for url in urls:
            reply = await self.bot.handle(Command(where, user, f"{verb} {url}"))
            if isinstance(reply, PaperDetail):
                unfurls[url] = unfurl(reply.card)
            else:
                log.info("no unfurl for %s: %s", url, getattr(reply, "text", reply))
        if unfurls:
            await self._unfurl(client, event, unfurls, composer=composer)

    async def _unfurl(
        self, client: AsyncWebClient, event: dict[str, Any], unfurls: dict[str, Any], *,
        composer: bool,
    ) -> None:  # fmt: skip
        target: dict[str, Any]
        if composer and event.get("unfurl_id"):
            target = {"unfurl_id": event["unfurl_id"], "source": event.get("source", "composer")}
        else:
            target = {"channel": event.get("channel"), "ts": event.get("message_ts")}
        try:
            await client.chat_unfurl(unfurls=unfurls, **target)
        except SlackApiError as error:
            log.info("chat.unfurl failed: %s", _api_error(error))

    # -- uninstall -------------------------------------------------------------------------------

    async def on_app_uninstalled(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        team = context.team_id or body.get("team_id")
        if self.installations is not None:
            await self.installations.async_delete_all(
                enterprise_id=context.enterprise_id, team_id=team
            )
        if isinstance(team, str):
            await pause_workspace(self.store, team, UNINSTALLED_REASON)

    async def on_tokens_revoked(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        team = context.team_id or body.get("team_id")
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        if not (tokens or {}).get("bot"):
            return  # only user tokens, which Paperboy never holds
        if self.installations is not None:
            await self.installations.async_delete_bot(
                enterprise_id=context.enterprise_id, team_id=team
            )
        if isinstance(team, str):
            await pause_workspace(self.store, team, REVOKED_REASON)


@dataclass(frozen=True, slots=True)
class _Click:
    channel: ChannelRef
    user: str
    paper_id: str
    block_id: str
    delivery_id: str
    message_ts: str
    ephemeral: bool
    blocks: tuple[dict[str, Any], ...]
    message_text: str
    unfurl_url: str | None

    @property
    def message_key(self) -> tuple[str, str]:
        return (self.channel.channel, self.message_ts)


def _command_from_slash(body: Mapping[str, Any]) -> Command:
    team, channel, user = body.get("team_id"), body.get("channel_id"), body.get("user_id")
    if not all(isinstance(value, str) and value for value in (team, channel, user)):
        raise _Malformed("a slash command needs team_id, channel_id and user_id")
    text = body.get("text")
    name = body.get("user_name")
    return Command(
        channel=ChannelRef(PLATFORM, str(team), str(channel)),
        user=str(user),
        text=text if isinstance(text, str) else "",
        user_name=name if isinstance(name, str) else None,
    )


def _click_from_action(body: Mapping[str, Any]) -> _Click:
    try:
        action = body["actions"][0]
        user = body["user"]["id"]
        container = body.get("container") or {}
        team = (body.get("team") or {}).get("id") or body["user"].get("team_id")
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        paper_id = action["value"]
        block_id = action.get("block_id") or ""
        message = body.get("message") or {}
        ts = container.get("message_ts") or message.get("ts") or ""
        delivery = body.get("trigger_id") or f"{user}:{action.get('action_ts')}"
        unfurl_url = container.get("app_unfurl_url") if container.get("is_app_unfurl") else None
        values = (user, team, channel, paper_id, delivery)
        if not all(isinstance(value, str) and value for value in values):
            raise _Malformed("a vote click needs user, team, channel, value and trigger_id")
        blocks = message.get("blocks") or []
        return _Click(
            channel=ChannelRef(PLATFORM, str(team), str(channel)), user=str(user),
            paper_id=str(paper_id), block_id=str(block_id), delivery_id=str(delivery),
            message_ts=str(ts),
            ephemeral=bool(container.get("is_ephemeral")),
            blocks=tuple(block for block in blocks if isinstance(block, dict)),
            message_text=str(message.get("text") or "Paperboy"),
            unfurl_url=unfurl_url if isinstance(unfurl_url, str) else None,
        )  # fmt: skip
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise _Malformed(f"unexpected block_actions shape ({error!r})") from None


def _render_safely(reply: Reply) -> SlackMessage:
    try:
        return render(reply)
    except Exception:  # a rendering bug must still give the person an answer
        log.exception("could not render a %s for Slack", type(reply).__name__)
        return render(Notice(FAILED_TEXT, kind="error"))


async def _respond_quietly(respond: AsyncRespond, **message: Any) -> None:
    try:
        response = await respond(**message)
    except (TimeoutError, ClientError, OSError) as error:
        log.info("response_url post failed: %s", error)
        return
    if response.status_code >= 400:
        log.info("response_url answered %s: %s", response.status_code, response.body[:200])


def _api_error(error: SlackApiError) -> str:
    data = error.response.data if isinstance(error.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {error.response.status_code}")


def _unguessable() -> str:
    return secrets.token_hex(32)


class _RecentKeys:
    """Keys seen in the last ``ttl`` seconds (bounded): remembers deliveries to drop repeats."""

    def __init__(
        self, ttl: float, *, max_size: int = 20_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._max = max_size
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen(self, key: str) -> bool:
        """True if ``key`` was seen within the TTL; otherwise remember it and return False."""
        now = self._clock()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at < self._ttl and len(self._seen) < self._max:
                break
            del self._seen[oldest]
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


# -- posting (the scheduler's way out) ------------------------------------------------------


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
                code = _api_error(error)
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


# -- HTTP mode ----------------------------------------------------------------------------------


@dataclass
class HttpServer:
    """A running HTTP endpoint; ``close()`` lets in-flight answers finish, then stops."""

    app: AsyncApp
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        if isinstance(self.app, SlackApp):
            await self.app.drain()
        await self.runner.cleanup()


async def serve_http(app: AsyncApp, host: str, port: int) -> HttpServer:
    """Serve ``/slack/events`` (commands, interactivity, events), ``/healthz`` and, with OAuth,
    ``/slack/install`` and ``/slack/oauth_redirect``. Port 0 picks a free port."""
    if isinstance(app, SlackApp) and app.verifier is None:
        raise ConfigError(
            "HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > App Credentials)."
        )
    endpoint = _HttpEndpoint(app, app.verifier if isinstance(app, SlackApp) else None)
    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
    web_app.router.add_post(EVENTS_PATH, endpoint.events)
    web_app.router.add_get(HEALTH_PATH, endpoint.health)
    oauth = app.oauth_flow
    if oauth is not None:
        web_app.router.add_get(oauth.install_path, endpoint.install)
        web_app.router.add_get(oauth.redirect_uri_path, endpoint.oauth_redirect)
    # aiohttp's access log would print the OAuth callback's query (code and state): keep it off.
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("Slack HTTP endpoint listening on http://%s:%d%s", host, bound, EVENTS_PATH)
    return HttpServer(app, runner, host, int(bound))


@dataclass(frozen=True, slots=True)
class _HttpEndpoint:
    app: AsyncApp
    verifier: SignatureVerifier | None

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def events(self, request: web.Request) -> web.Response:
        received = time.monotonic()
        raw = await request.read()
        if self.verifier is not None and not _signed(self.verifier, raw, request.headers):
            log.info("refused a request with a bad, stale or missing Slack signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(
                body=raw.decode("utf-8"), query=request.query_string, headers=dict(request.headers),
                context={RECEIVED_AT: received},
            )  # fmt: skip
            if not isinstance(bolt_request.body, dict):
                raise TypeError("payload is not an object")
        except Exception as error:  # anything unparseable is the sender's problem, not a 500
            log.info("refused a malformed Slack request: %s", type(error).__name__)
            return web.json_response({"error": "malformed payload"}, status=400)
        kind = bolt_request.body.get("type")
        response = await self.app.async_dispatch(bolt_request)
        if kind == "event_callback" and (response.status == 404 or response.status >= 500):
            # An event nobody handles, or one that failed, is still received: a non-2xx answer
            # only makes Slack retry it (and eventually switch the subscription off).
            response = BoltResponse(status=200, body="")
        elif response.status == 404:
            response = BoltResponse(status=400, body='{"error": "unsupported request"}',
                                    headers={"content-type": "application/json"})  # fmt: skip
        elif response.status >= 500:
            response = BoltResponse(
                status=200, body=f'{{"response_type": "ephemeral", "text": "{FAILED_TEXT}"}}',
                headers={"content-type": "application/json"},
            )  # fmt: skip
        return await to_aiohttp_response(response)

    async def install(self, request: web.Request) -> web.Response:
        oauth = self.app.oauth_flow
        assert oauth is not None
        return await to_aiohttp_response(await oauth.handle_installation(_oauth_request(request)))

    async def oauth_redirect(self, request: web.Request) -> web.Response:
        oauth = self.app.oauth_flow
        assert oauth is not None
        return await to_aiohttp_response(await oauth.handle_callback(_oauth_request(request)))


def _oauth_request(request: web.Request) -> AsyncBoltRequest:
    """The install and redirect pages are plain GETs: only the query and headers matter."""
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))


def _signed(verifier: SignatureVerifier, raw: bytes, headers: Mapping[str, str]) -> bool:
    """Slack's v0 signature over the raw bytes, within five minutes of our clock."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    try:
        age = abs(verifier.clock.now() - int(timestamp))
    except (ValueError, OverflowError):
        return False
    if age > MAX_REQUEST_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + raw
    digest = hmac.new(verifier.signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={digest}".encode(), signature.encode("utf-8", "replace"))


# -- Socket Mode --------------------------------------------------------------------------------


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
    handler = AsyncSocketModeHandler(app, app_token, logger=log)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("connected to Slack in Socket Mode")
    return SocketModeConnection(app, handler)
