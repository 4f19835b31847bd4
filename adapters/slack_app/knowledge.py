"""Team knowledge on Slack: the Save button, export files from ``/papers export``, the App Home
tab, and replies counted in the threads under posted papers.

Kept apart from ``listeners`` (which registers these) so each concern reads on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app.blocks import SAVE_ACTION_ID, render
from adapters.slack_app.files import FileUploader, UploadFailed
from adapters.slack_app.home import home_view
from adapters.slack_app.installations import PLATFORM
from adapters.slack_app.payloads import api_error
from adapters.slack_app.poster import open_direct
from adapters.slack_app.request_keys import SharedKeys, first_click, repeated_event
from bot.commands import Paperboy, home_summary
from bot.models import ChannelRef
from bot.replies import SAVE_COMMAND, Command, FileReply, Notice, Reply
from bot.storage import Store

if TYPE_CHECKING:
    from adapters.slack_app.app import SlackApp

log = logging.getLogger(__name__)

# Message subtypes that are a person writing in a thread (a plain reply has no subtype).
REPLY_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})

NOT_IN_CHANNEL_TEXT = (
    "I can't share files in this channel yet. Invite me with `/invite @Paperboy`, then run "
    "the export again."
)
UPLOAD_FAILED_TEXT = (
    "Sorry, Slack did not take the file just now. It is logged; please try the export again "
    "in a minute."
)
NO_DIRECT_MESSAGE_TEXT = (
    "I could not open a direct message with you to send your file. Please try again in a minute."
)


def uploading_text(reply: FileReply) -> str:
    size = f"{reply.size / 1024:.0f} KB" if reply.size >= 1024 else f"{reply.size} bytes"
    return f"Uploading `{reply.filename}` ({size})…"


@dataclass
class KnowledgeListeners:
    app: SlackApp
    bot: Paperboy
    store: Store
    handle: Callable[[Command], Awaitable[Reply]]  # the core, through the listeners' slots
    deliveries: SharedKeys  # delivery ids already handled (Slack retries)
    clicks: SharedKeys  # recent clicks (double clicks)

    def register(self) -> None:
        self.app.action(SAVE_ACTION_ID)(self.on_save)
        self.app.event("app_home_opened")(self.on_home_opened)
        self.app.event("message")(self.on_message)

    # -- Save button ----------------------------------------------------------------------------

    async def on_save(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        if (click := await first_click(body, self.deliveries, "save")) is None:
            return
        if await self.clicks.seen(f"save:{click.channel.workspace}:{click.user}:{click.paper_id}"):
            log.info("ignored a double click on Save by %s on %s", click.user, click.paper_id)
            return
        command = Command(click.channel, click.user, f"{SAVE_COMMAND} {click.paper_id}")
        self.app.spawn(self._save(command, respond))

    async def _save(self, command: Command, respond: AsyncRespond) -> None:
        reply = await self.handle(command)
        await _tell(respond, **render(reply).payload())

    # -- files (/papers export) -----------------------------------------------------------------

    async def send_file(
        self, reply: FileReply, command: Command, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """Share the file in the channel, or (a personal export) in a direct message with the
        person; whatever goes wrong, they read why."""
        uploader = FileUploader(client)
        try:
            if reply.public:
                await uploader.upload(reply, command.channel.channel)
                return
            direct = await open_direct(client, command.user)
            await uploader.upload(reply, direct)
        except UploadFailed as error:
            log.warning("export %s to %s failed: %s", reply.filename, command.channel, error.code)
            text = NOT_IN_CHANNEL_TEXT if error.not_in_channel else UPLOAD_FAILED_TEXT
            await _tell(respond, **render(Notice(text, kind="error")).payload())
            return
        except (SlackApiError, TimeoutError, ClientError, OSError, ValueError) as error:
            problem = api_error(error) if isinstance(error, SlackApiError) else repr(error)
            log.warning("no direct message with %s for %s: %s", command.user, reply.filename,
                        problem)  # fmt: skip
            await _tell(respond, **render(Notice(NO_DIRECT_MESSAGE_TEXT, kind="error")).payload())
            return
        done = Notice(f"Sent `{reply.filename}` to you in a direct message.", kind="success")
        await _tell(respond, **render(done).payload())

    # -- App Home -------------------------------------------------------------------------------

    async def on_home_opened(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:  # fmt: skip
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        user = event.get("user")
        team = context.team_id or body.get("team_id")
        if not isinstance(user, str) or not isinstance(team, str):
            log.info("ignored an app_home_opened event without a user or team")
            return
        if await repeated_event(body, self.deliveries):
            return
        self.app.spawn(self._publish_home(client, team, user))

    async def _publish_home(self, client: AsyncWebClient, team: str, user: str) -> None:
        summary = await home_summary(self.bot, PLATFORM, team, user)
        try:
            await client.views_publish(user_id=user, view=home_view(summary))
        except SlackApiError as error:
            log.warning("views.publish for %s failed: %s", user, api_error(error))
        except (TimeoutError, ClientError, OSError) as error:
            log.warning("could not reach Slack to publish the Home tab: %s", error)

    # -- replies in threads ---------------------------------------------------------------------

    async def on_message(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        thread, ts = event.get("thread_ts"), event.get("ts")
        user, channel = event.get("user"), event.get("channel")
        team = context.team_id or body.get("team_id")
        if event.get("subtype") not in REPLY_SUBTYPES or event.get("bot_id"):
            return  # edits, deletions, joins; other bots
        if not all(isinstance(value, str) for value in (thread, ts, user, channel, team)):
            return  # not in a thread
        if thread == ts or user == context.bot_user_id:
            return  # a thread's first message is not a reply to it
        where = ChannelRef(PLATFORM, str(team), str(channel))
        self.app.spawn(self._count_reply(where, str(user), str(thread), str(ts)))

    async def _count_reply(self, where: ChannelRef, user: str, thread: str, ts: str) -> None:
        paper = await self.store.record_reply(
            where, user, message_key=thread, reply_key=ts, now=_sent_at(ts)
        )
        if paper is not None:
            log.info("counted a reply about %s in %s", paper, where)


def _sent_at(ts: str) -> datetime | None:
    """When a message was written: its ts is Unix seconds (a late redelivery keeps its day)."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return None


async def _tell(respond: AsyncRespond, **message: Any) -> None:
    """An ephemeral note to the person who acted (failures are logged, not raised)."""
    message.update(response_type="ephemeral", replace_original=False)
    try:
        response = await respond(**message)
    except (TimeoutError, ClientError, OSError) as error:
        log.info("response_url post failed: %s", error)
        return
    if response.status_code >= 400:
        log.info("response_url answered %s: %s", response.status_code, response.body[:200])
