"""Talking to the Slack adapter as Slack does: saved payloads, v0 request signatures, and a
workspace that sends signed slash commands, button clicks and events over real HTTP."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import io
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from adapters.slack_app.http import EVENTS_PATH
from bot.models import Paper
from tests.papers import NOW
from tests.slack.fake_slack import FakeSlack

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slack"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-0001-test-token"
TEAM = "T0001"
CHANNEL = "C2147483705"
USER = "U2147483697"


def payload(name: str) -> dict[str, Any]:
    """A saved Slack payload from tests/fixtures/slack (a fresh copy each time)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return copy.deepcopy(data)


def sign(body: bytes, timestamp: int | str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """The headers Slack adds: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Answer:
    status: int
    text: str
    elapsed: float

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.text)
        return data


class FakeClock:
    """A monotonic clock the test moves (the adapter's debounce and retry memory use it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Workspace:
    """One Slack workspace talking to the app: signed slash commands, clicks and events."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, fake: FakeSlack, team: str = TEAM
    ) -> None:
        self.session = session
        self.url = url
        self.fake = fake
        self.team = team
        self._sent = 0

    async def send(
        self,
        body: bytes,
        content_type: str = "application/x-www-form-urlencoded",
        *,
        timestamp: int | str | None = None,
        secret: str = SIGNING_SECRET,
        signed: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = {"Content-Type": content_type, **(headers or {})}
        if signed:
            sent.update(sign(body, int(time.time()) if timestamp is None else timestamp, secret))
        started = time.perf_counter()
        data = io.BytesIO(body) if len(body) > 1_000_000 else body  # aiohttp warns on big bytes
        async with self.session.post(self.url + EVENTS_PATH, data=data, headers=sent) as response:
            text = await response.text()
        return Answer(response.status, text, time.perf_counter() - started)

    async def command(
        self, text: str, *, user: str = USER, channel: str = CHANNEL, **fields: str
    ) -> Answer:
        self._sent += 1
        form = payload("slash_command")
        form.update(
            team_id=self.team, channel_id=channel, user_id=user, text=text,
            response_url=self.fake.response_url(f"cmd{self._sent}"),
        )  # fmt: skip
        form.update(fields)
        return await self.send(urlencode(form).encode())

    async def action(self, body: dict[str, Any], **options: Any) -> Answer:
        form = urlencode({"payload": json.dumps(body)}).encode()
        return await self.send(form, **options)

    async def event(self, body: dict[str, Any], **options: Any) -> Answer:
        return await self.send(json.dumps(body).encode(), "application/json", **options)

    def click_payload(
        self, message: dict[str, Any], paper_id: str, *, user: str = USER, channel: str = CHANNEL,
        ephemeral: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """A block_actions payload for clicking Upvote on ``paper_id`` in ``message``."""
        self._sent += 1
        block = next(
            block for block in message["blocks"]
            if block.get("accessory", {}).get("value") == paper_id
        )  # fmt: skip
        body = payload("block_actions")
        body["user"] = {"id": user, "username": user.lower(), "name": user.lower(),
                        "team_id": self.team}  # fmt: skip
        body["team"] = {"id": self.team, "domain": "example"}
        body["channel"] = {"id": channel, "name": "papers"}
        body["container"].update(channel_id=channel, message_ts=message["ts"],
                                 is_ephemeral=ephemeral)  # fmt: skip
        body["trigger_id"] = f"trigger-{self.team}-{self._sent}"
        body["response_url"] = self.fake.response_url(f"click{self._sent}")
        if ephemeral:
            body.pop("message")
        else:
            body["message"].update(ts=message["ts"], blocks=message["blocks"],
                                   text=message.get("text", ""))  # fmt: skip
        action = body["actions"][0]
        action.update(block_id=block["block_id"], value=paper_id,
                      action_ts=f"{time.time():.6f}")  # fmt: skip
        return body


Serve = Callable[..., Awaitable[Workspace]]


class SlowLookup:
    """A live-lookup stand-in (the arXiv port) that takes its time and counts its calls."""

    def __init__(self, papers: list[Paper], delay: float = 0.0) -> None:
        self.papers = {paper.id: paper for paper in papers}
        self.delay = delay
        self.calls: list[list[str]] = []

    async def lookup(self, paper_ids: Sequence[str]) -> list[Paper]:
        self.calls.append(list(paper_ids))
        await asyncio.sleep(self.delay)
        return [self.papers[i] for i in paper_ids if i in self.papers]


def new_paper(paper_id: str = "2401.00042", title: str = "A Paper Nobody Had Seen") -> Paper:
    return Paper(
        id=paper_id, title=title, abstract="An abstract fetched live from arXiv.",
        authors=("Grace Hopper",), published=NOW, categories=("cs.SE",),
        sources=frozenset({"arxiv"}),
    )  # fmt: skip
