"""The scheduler's way out: digests and notices posted with chat.postMessage, paced per channel,
429s honoured, and Slack's refusals sorted into ones worth retrying and ones that are not."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app.blocks import SlackMessage, render
from adapters.slack_app.files import FileUploader, UploadFailed
from adapters.slack_app.installations import PLATFORM, SlackInstallationStore
from adapters.slack_app.payloads import PERMANENT_ERRORS, api_error, retry_after
from bot import metrics
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.replies import FileReply, PaperDetail, PaperList, Reply
from bot.storage import Store

if TYPE_CHECKING:
    from adapters.slack_app.app import SlackApp

log = logging.getLogger(__name__)


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
    store: Store | None = None  # where posted paper cards are remembered (thread replies count)
    _direct: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _last_post: dict[ChannelRef, float] = field(default_factory=dict, repr=False)
    _locks: weakref.WeakValueDictionary[ChannelRef, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary, repr=False
    )

    @classmethod
    def for_app(cls, app: SlackApp, **options: Any) -> SlackPoster:
        """A poster sharing the app's Web API client and installations."""
        options.setdefault("store", app.store)
        return cls(app.client, app.installations, **options)

    async def post(self, channel: ChannelRef, reply: Reply) -> None:
        if channel.platform != self.platform:
            raise DeliveryError(f"{channel} is not a Slack channel", permanent=True)
        token = await self._token(channel)
        target = await self._conversation(channel, token)
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._last_post.get(channel, -self.min_interval) + self.min_interval
            wait -= self.clock()
            if wait > 0:
                metrics.waited(self.platform, wait)
                await self.sleep(wait)
            try:
                if isinstance(reply, FileReply):
                    await self._upload(channel, target, token, reply)
                    return
                ts = await self._send(channel, target, token, render(reply))
            finally:
                self._last_post[channel] = self.clock()
        await self._remember(channel, ts, reply)

    async def _conversation(self, channel: ChannelRef, token: str | None) -> str:
        """The channel id to post in: a direct message is opened (once) with conversations.open;
        a person Slack will not let Paperboy write to is a permanent failure, never retried."""
        user = channel.direct_user
        if user is None:
            return channel.channel
        key = (channel.workspace, user)
        if key not in self._direct:
            try:
                self._direct[key] = await open_direct(self.client, user, token=token)
            except SlackApiError as error:
                code = api_error(error)
                log.warning("could not open a direct message with %s: %s", channel, code)
                raise DeliveryError(f"cannot message {user}: {code}", permanent=True) from None
            except (TimeoutError, ClientError, OSError, ValueError) as error:
                raise DeliveryError(f"Slack unreachable: {error}", permanent=False) from None
        return self._direct[key]

    async def _upload(
        self, channel: ChannelRef, target: str, token: str | None, reply: FileReply
    ) -> None:
        uploader = FileUploader(self.client, sleep=self.sleep, max_retry_after=self.max_retry_after)
        try:
            await uploader.upload(reply, target, token=token)
        except UploadFailed as error:
            log.warning("could not upload %s to %s: %s", reply.filename, channel, error.code)
            raise DeliveryError(error.code, permanent=error.permanent) from None

    async def _remember(self, channel: ChannelRef, ts: str | None, reply: Reply) -> None:
        """A message showing one paper: replies in its thread are discussion of that paper."""
        cards = [reply.card] if isinstance(reply, PaperDetail) else []
        if isinstance(reply, PaperList):
            cards = list(reply.cards)
        if self.store is None or ts is None or len(cards) != 1:
            return
        try:
            await self.store.remember_message(channel, ts, cards[0].paper.id)
        except Exception:  # the post went out; losing its reply count is not worth a retry
            log.exception("could not remember Slack message %s in %s", ts, channel)

    async def _token(self, channel: ChannelRef) -> str | None:
        if self.installations is None:
            return None  # one workspace: the client's own token
        bot = await self.installations.find_bot_for_team(channel.workspace)
        if bot is None:
            log.warning("no Slack installation for team %s; not posting to %s",
                        channel.workspace, channel)  # fmt: skip
            raise DeliveryError("Paperboy is not installed in this Slack workspace", permanent=True)
        return bot.bot_token

    async def _send(
        self, channel: ChannelRef, target: str, token: str | None, message: SlackMessage
    ) -> str | None:
        """Post the message; returns its ts."""
        blocks: list[dict[str, Any]] | None = [dict(block) for block in message.blocks]
        for attempt in range(1, self.max_attempts + 1):
            try:
                posted = await self.client.chat_postMessage(
                    channel=target, text=message.text, blocks=blocks, token=token,
                    unfurl_links=False, unfurl_media=False,
                )  # fmt: skip
                ts = posted.get("ts")
                return ts if isinstance(ts, str) else None
            except SlackApiError as error:
                code = api_error(error)
                if error.response.status_code == 429 or code == "ratelimited":
                    delay = retry_after(error.response.headers)
                    if attempt < self.max_attempts and delay <= self.max_retry_after:
                        log.info("Slack rate-limited %s; retrying in %.0f s", channel, delay)
                        metrics.waited(self.platform, delay)
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


async def open_direct(client: AsyncWebClient, user: str, *, token: str | None = None) -> str:
    """The id of Paperboy's direct-message conversation with ``user`` (opened if need be)."""
    opened = await client.conversations_open(users=user, token=token)
    channel = opened.get("channel")
    conversation = channel.get("id") if isinstance(channel, dict) else None
    if not isinstance(conversation, str):
        raise ValueError("conversations.open answered without a channel id")
    return conversation
