"""Reading what Slack sends: slash commands and button clicks into plain values, Web API errors
into their code, and a memory of recent deliveries so a retried one is not handled twice."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack_app.installations import PLATFORM
from bot.models import ChannelRef
from bot.replies import Command


class Malformed(ValueError):
    """A payload without the fields every request of its kind carries."""


@dataclass(frozen=True, slots=True)
class Click:
    """An Upvote click, with what is needed to redraw the message it was on."""

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


def command_from_slash(body: Mapping[str, Any]) -> Command:
    team, channel, user = body.get("team_id"), body.get("channel_id"), body.get("user_id")
    if not all(isinstance(value, str) and value for value in (team, channel, user)):
        raise Malformed("a slash command needs team_id, channel_id and user_id")
    text = body.get("text")
    name = body.get("user_name")
    return Command(
        channel=ChannelRef(PLATFORM, str(team), str(channel)),
        user=str(user),
        text=text if isinstance(text, str) else "",
        user_name=name if isinstance(name, str) else None,
    )


def click_from_action(body: Mapping[str, Any]) -> Click:
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
            raise Malformed("a vote click needs user, team, channel, value and trigger_id")
        blocks = message.get("blocks") or []
        return Click(
            channel=ChannelRef(PLATFORM, str(team), str(channel)), user=str(user),
            paper_id=str(paper_id), block_id=str(block_id), delivery_id=str(delivery),
            message_ts=str(ts),
            ephemeral=bool(container.get("is_ephemeral")),
            blocks=tuple(block for block in blocks if isinstance(block, dict)),
            message_text=str(message.get("text") or "Paperboy"),
            unfurl_url=unfurl_url if isinstance(unfurl_url, str) else None,
        )  # fmt: skip
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise Malformed(f"unexpected block_actions shape ({error!r})") from None


def api_error(error: SlackApiError) -> str:
    """The ``error`` code of a Web API refusal (``channel_not_found``), or its HTTP status."""
    data = error.response.data if isinstance(error.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {error.response.status_code}")


class RecentKeys:
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
