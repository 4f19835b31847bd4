"""Files to Slack (an export), through Slack's external upload flow.

``files.getUploadURLExternal`` hands out a one-time URL, the bytes are POSTed there, and
``files.completeUploadExternal`` shares the file in a channel (or a thread) with its comment.
Each step has a timeout; a step is retried only where a repeat cannot share the file twice:
asking for a URL and sending the bytes (nothing is visible yet), and any step Slack refused
with a 429 (it did nothing), after its Retry-After.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack_app.blocks import escape
from adapters.slack_app.installations import PLATFORM
from adapters.slack_app.payloads import PERMANENT_ERRORS, api_error, retry_after
from bot import metrics
from bot.replies import FileReply

log = logging.getLogger(__name__)

UPLOAD_TIMEOUT_SECONDS = 60.0  # for the bytes; the Web API calls use the client's timeout
# Errors that mean "not in this channel": the person can fix those by inviting the bot.
NOT_IN_CHANNEL = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


class UploadFailed(Exception):
    """The file did not reach the channel; ``code`` is Slack's error (or what went wrong)."""

    def __init__(self, code: str, *, permanent: bool) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent

    @property
    def not_in_channel(self) -> bool:
        return self.code in NOT_IN_CHANNEL


@dataclass
class FileUploader:
    """Uploads one file and shares it in one conversation."""

    client: AsyncWebClient
    max_attempts: int = 3
    max_retry_after: float = 30.0
    upload_timeout: float = UPLOAD_TIMEOUT_SECONDS
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def upload(
        self, reply: FileReply, channel_id: str, *, token: str | None = None,
        thread_ts: str | None = None,
    ) -> str:  # fmt: skip
        """Share ``reply``'s file in ``channel_id`` (in the thread ``thread_ts``) with its text
        as the comment; returns Slack's file id. Raises :class:`UploadFailed`."""
        issued = await self._api(
            lambda: self.client.files_getUploadURLExternal(
                filename=reply.filename, length=reply.size, token=token
            ),
            repeatable=True,
        )
        file_id, url = issued.get("file_id"), issued.get("upload_url")
        if not isinstance(file_id, str) or not isinstance(url, str):
            raise UploadFailed("no upload URL in Slack's answer", permanent=False)
        await self._send_bytes(url, reply)
        # slack_sdk repeats a call whose connection broke; this one may have shared the file.
        once = copy.copy(self.client)
        once.retry_handlers = []
        await self._api(
            lambda: once.files_completeUploadExternal(
                files=[{"id": file_id, "title": reply.filename}], channel_id=channel_id,
                initial_comment=escape(reply.text), thread_ts=thread_ts, token=token,
            ),
            repeatable=False,  # it may have been shared before the connection broke
        )  # fmt: skip
        log.info("uploaded %s (%d bytes) to %s", reply.filename, reply.size, channel_id)
        return file_id

    async def _api(
        self, call: Callable[[], Awaitable[AsyncSlackResponse]], *, repeatable: bool
    ) -> AsyncSlackResponse:
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            try:
                return await call()
            except SlackApiError as error:
                code = api_error(error)
                if error.response.status_code == 429 or code == "ratelimited":
                    delay = retry_after(error.response.headers)
                    if not last and delay <= self.max_retry_after:
                        log.info("Slack rate-limited a file upload; retrying in %.0f s", delay)
                        metrics.waited(PLATFORM, delay)
                        await self.sleep(delay)
                        continue
                    raise UploadFailed(code, permanent=False) from None
                raise UploadFailed(code, permanent=code in PERMANENT_ERRORS) from None
            except (TimeoutError, ClientError, OSError) as error:
                if repeatable and not last:
                    await self.sleep(_backoff(attempt))
                    continue
                raise UploadFailed(f"Slack unreachable: {error!r}", permanent=False) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _send_bytes(self, url: str, reply: FileReply) -> None:
        timeout = aiohttp.ClientTimeout(total=self.upload_timeout)
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with (
                    aiohttp.ClientSession(timeout=timeout) as session,
                    session.post(url, data=reply.data, headers=_content(reply)) as response,
                ):
                    if response.status == 200:
                        return
                    problem = f"upload answered HTTP {response.status}"
                    if response.status < 500 and response.status != 429:
                        break  # a refusal, not a hiccup
            except (TimeoutError, ClientError, OSError) as error:
                problem = f"upload failed: {error!r}"
            if attempt < self.max_attempts:
                await self.sleep(_backoff(attempt))
        raise UploadFailed(problem, permanent=False)


def _backoff(attempt: int) -> float:
    """Seconds before repeating a step after ``attempt`` failed: 0.5, 2, 8."""
    return float(min(0.5 * 4 ** (attempt - 1), 8.0))


def _content(reply: FileReply) -> dict[str, Any]:
    return {"Content-Type": reply.mime_type}
