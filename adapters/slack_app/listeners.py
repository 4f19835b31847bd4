"""The listeners: what Paperboy does with each kind of Slack request.

A slash command becomes a ``Command`` and is answered in the ack when the core is quick (else on
the response_url); an Upvote click becomes ``vote <id>`` and redraws the count where the button
is; a pasted paper link becomes ``share <url>`` and an unfurl; an uninstall or a revoked token
removes the workspace's token and pauses its digests. Nothing here knows how papers are found.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app.blocks import (
    SIMILAR_ACTION_ID,
    VOTE_ACTION_ID,
    SlackMessage,
    render,
    unfurl,
    with_vote_count,
)
from adapters.slack_app.installations import (
    PLATFORM,
    REVOKED_REASON,
    UNINSTALLED_REASON,
    SlackInstallationStore,
    pause_workspace,
)
from adapters.slack_app.knowledge import KnowledgeListeners, uploading_text
from adapters.slack_app.payloads import (
    Click,
    Malformed,
    api_error,
    command_from_slash,
)
from adapters.slack_app.request_keys import SharedKeys, first_click, repeated_event
from adapters.slack_app.roles import WorkspaceRoles
from bot.commands import Paperboy
from bot.ids import find_paper_links
from bot.leases import shared_lock
from bot.models import ChannelRef
from bot.replies import APOLOGY, Command, FileReply, Notice, Reply, VoteRecorded
from bot.storage import Store

if TYPE_CHECKING:
    from adapters.slack_app.app import SlackApp

log = logging.getLogger(__name__)

ACK_BUDGET_SECONDS = 1.5  # answer in the ack if the core is this quick; Slack allows 3 s
DOUBLE_CLICK_SECONDS = 1.5  # a second click on the same button this soon is the same click
RETRY_TTL_SECONDS = 600.0  # how long a delivery id (trigger_id, event_id) is remembered
MAX_LINKS_PER_MESSAGE = 5
# Commands worked on at once; the rest wait their turn, first come first served. Under a burst,
# a hundred commands at once would each wait behind all the others at every database or search
# step (and a vote holds the write lock across its steps), so the slowest answers took seconds.
CORE_SLOTS = 8
RECEIVED_AT = "paperboy_received_at"  # request context key: time.monotonic() on arrival

WORKING_TEXT = "Looking that up… I'll answer here in a moment."
MALFORMED_TEXT = "Sorry, I could not read that request from Slack. Please try the command again."
FAILED_TEXT = APOLOGY


@dataclass
class Listeners:
    app: SlackApp
    bot: Paperboy
    store: Store
    installations: SlackInstallationStore | None
    ack_budget: float
    clock: Callable[[], float]
    _deliveries: SharedKeys = field(init=False)
    _clicks: SharedKeys = field(init=False)
    _core_slots: asyncio.Semaphore = field(init=False)
    _knowledge: KnowledgeListeners = field(init=False)
    _roles: WorkspaceRoles = field(init=False)
    _message_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = field(
        init=False, default_factory=weakref.WeakValueDictionary
    )

    def __post_init__(self) -> None:
        self._deliveries = SharedKeys(self.store, RETRY_TTL_SECONDS, clock=self.clock)
        self._clicks = SharedKeys(self.store, DOUBLE_CLICK_SECONDS, clock=self.clock)
        self._core_slots = asyncio.Semaphore(CORE_SLOTS)
        self._knowledge = KnowledgeListeners(
            self.app, self.bot, self.store, self._handle, self._deliveries, self._clicks
        )
        self._roles = WorkspaceRoles(self.clock)

    def register(self) -> None:
        self.app.command(re.compile(r"^/"))(self.on_command)
        self.app.action(VOTE_ACTION_ID)(self.on_vote)
        self.app.action(SIMILAR_ACTION_ID)(self.on_similar)
        self.app.event("link_shared")(self.on_link_shared)
        self.app.event("app_uninstalled")(self.on_app_uninstalled)
        self.app.event("tokens_revoked")(self.on_tokens_revoked)
        self._knowledge.register()  # Save, App Home, thread replies

    # -- /papers ------------------------------------------------------------------------------

    async def on_command(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
        context: AsyncBoltContext, client: AsyncWebClient,
    ) -> None:  # fmt: skip
        try:
            command = command_from_slash(body)
        except Malformed as error:
            log.info("malformed slash command: %s", error)
            await ack(response_type="ephemeral", text=MALFORMED_TEXT)
            return
        # The budget runs from when the request arrived: under load it may have queued a while.
        received = context.get(RECEIVED_AT)
        waited = time.monotonic() - received if isinstance(received, float) else 0.0
        work = asyncio.ensure_future(self._handle(command, context.client))
        done, _ = await asyncio.wait({work}, timeout=max(self.ack_budget - waited, 0.0))
        if work in done and isinstance(reply := work.result(), FileReply):
            await ack(response_type="ephemeral", text=uploading_text(reply))
            self.app.spawn(self._knowledge.send_file(reply, command, respond, client))
            return
        if work in done:
            await ack(**_render_safely(work.result()).payload())
            return
        await ack(response_type="ephemeral", text=WORKING_TEXT)
        self.app.spawn(self._answer_later(work, respond, command, client))

    async def _handle(self, command: Command, client: AsyncWebClient | None = None) -> Reply:
        """The core's answer, when a slot is free (every request goes through here). Given a
        client, it first asks Slack whether the person is an admin, where the answer needs it."""
        if client is not None and await self.bot.needs_role(command):
            team, user = command.channel.workspace, command.user
            command = replace(command, is_admin=await self._roles.is_admin(client, team, user))
        async with self._core_slots:
            return await self.bot.handle(command)

    async def _answer_later(
        self, work: asyncio.Future[Reply], respond: AsyncRespond, command: Command,
        client: AsyncWebClient,
    ) -> None:  # fmt: skip
        reply = await work
        if isinstance(reply, FileReply):
            await self._knowledge.send_file(reply, command, respond, client)
            return
        message = _render_safely(reply)
        try:
            await respond(**message.payload())
        except (TimeoutError, ClientError, OSError) as error:
            log.warning("could not answer /papers through response_url: %s", error)

    # -- Upvote button --------------------------------------------------------------------------

    async def on_vote(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        if (click := await first_click(body, self._deliveries, "vote")) is None:
            return
        if await self._clicks.seen(f"{click.channel.workspace}:{click.user}:{click.paper_id}"):
            log.info("ignored a double click by %s on %s", click.user, click.paper_id)
            return
        self.app.spawn(self._vote(click, respond, client))

    async def _vote(self, click: Click, respond: AsyncRespond, client: AsyncWebClient) -> None:
        # One toggle-and-redraw at a time per message: in click order within this worker, and
        # across workers through the database, so a redraw never shows an older count.
        lock = self._message_locks.setdefault(click.message_key, asyncio.Lock())
        async with lock, self._message_lock(click):
            reply = await self._handle(Command(click.channel, click.user, f"vote {click.paper_id}"))
            if not isinstance(reply, VoteRecorded):
                await _respond_quietly(respond, **_render_safely(reply).payload())
                return
            await self._redraw(click, reply, respond, client)

    @contextlib.asynccontextmanager
    async def _message_lock(self, click: Click) -> AsyncIterator[None]:
        channel, ts = click.message_key
        async with contextlib.AsyncExitStack() as held:
            try:
                await held.enter_async_context(shared_lock(self.store, f"slack:{channel}:{ts}"))
            except TimeoutError:
                # A holder that died frees the lock after its TTL; meanwhile a vote still
                # counts, only its redraw may race another worker's.
                log.warning("message %s stayed locked; voting without the lock", ts)
            yield

    async def _redraw(
        self, click: Click, reply: VoteRecorded, respond: AsyncRespond, client: AsyncWebClient
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
                log.info("could not redraw the unfurl: %s", api_error(error))
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
                             api_error(error))  # fmt: skip
                    await _respond_quietly(respond, replace_original=True, blocks=blocks,
                                           text=click.message_text)  # fmt: skip
        if not redrawn_for_clicker_only:
            await _respond_quietly(respond, response_type="ephemeral", replace_original=False,
                                   text=render(reply).text)  # fmt: skip

    # -- More like this button ---------------------------------------------------------------------

    async def on_similar(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Papers like the clicked one, shown to the clicker only: a click is a private question."""
        await ack()
        if (click := await first_click(body, self._deliveries, "similar")) is None:
            return
        self.app.spawn(self._similar(click, respond))

    async def _similar(self, click: Click, respond: AsyncRespond) -> None:
        reply = await self._handle(Command(click.channel, click.user, f"similar {click.paper_id}"))
        message = _render_safely(reply)
        await _respond_quietly(respond, response_type="ephemeral", replace_original=False,
                               text=message.text, blocks=list(message.blocks))  # fmt: skip

    # -- pasted links -----------------------------------------------------------------------------

    async def on_link_shared(
        self, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        event = body.get("event")
        team = context.team_id or body.get("team_id")
        if not isinstance(event, dict) or not isinstance(team, str):
            log.info("ignored a link_shared event without a team or event")
            return
        if await repeated_event(body, self._deliveries):
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
        shared = await self.bot.share_links(where, user, urls, limit=MAX_LINKS_PER_MESSAGE,
                                            record=not composer)  # fmt: skip
        unfurls: dict[str, Any] = {link.text: unfurl(link.card) for link in shared}
        if unfurls:
            await self._unfurl(client, event, unfurls, composer=composer)
        papers = {link.card.paper.id for link in shared}
        ts = event.get("message_ts")
        if len(papers) == 1 and not composer and isinstance(ts, str):
            # A message sharing one paper: replies in its thread are discussion of that paper.
            await self.store.remember_message(where, ts, papers.pop())

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
            log.info("chat.unfurl failed: %s", api_error(error))

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
