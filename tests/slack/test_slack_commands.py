"""Every ``/papers`` subcommand end to end: a signed slash command over HTTP, the answer in the
ack (or through response_url when the core is slow), checked the way Slack would check it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from datetime import time, timedelta
from typing import Any

import pytest

from adapters.slack_app import SlackApp
from adapters.slack_app.listeners import CORE_SLOTS, MALFORMED_TEXT, WORKING_TEXT
from bot.commands import COMMANDS, Paperboy
from bot.models import ChannelRef, Paper
from bot.search import SearchIndex
from bot.storage import Store
from tests.papers import NOW
from tests.slack.fake_slack import block_kit_problems
from tests.slack.workspace import CHANNEL, TEAM, USER, Serve, SlowLookup, Workspace, new_paper

HERE = ChannelRef("slack", TEAM, CHANNEL)


def everything(answer: dict[str, Any]) -> str:
    """All the text a person would see: the blocks, falling back to the plain text."""
    parts = [answer.get("text", "")]
    for block in answer.get("blocks", []):
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text["text"])
        for element in block.get("elements", []):
            label = element.get("text", "")  # a button's label is a text object
            parts.append(label["text"] if isinstance(label, dict) else label)
        accessory = block.get("accessory")
        if accessory:
            parts.append(accessory["text"]["text"])
    return "\n".join(parts)


# (what the person types, who sees the answer, something the answer says)
SUBCOMMANDS = [
    ("help", "ephemeral", "Paperboy brings research papers"),
    ("search streaming attention", "ephemeral", "Efficient Streaming Language Models"),
    ("search attention --share", "in_channel", "Results for attention"),
    ("show 0001.00003", "ephemeral", "Promptagator"),
    ("similar 0001.00003", "ephemeral", "More like “Promptagator"),
    ("trending week", "ephemeral", "Trending this week"),
    ("subscribe cat:cs.CL", "in_channel", "Subscribed this channel to `cat:cs.CL`"),
    ("subscriptions", "ephemeral", "follows no topics"),
    ("unsubscribe 1", "ephemeral", "follows no topics yet"),
    ("vote 0001.00002", "ephemeral", "Upvoted “Tutel"),
    ("share 0001.00002 worth a read", "in_channel", "worth a read"),
    ("top week", "ephemeral", "Nobody upvoted a paper this week"),
    ("digest", "ephemeral", "Preview"),
    ("schedule 08:30 Europe/Berlin weekdays", "in_channel", "08:30 (Europe/Berlin)"),
    ("status", "ephemeral", "Papers stored: 8"),
    ("save 0001.00002", "ephemeral", "Saved “Tutel"),
    ("saved", "ephemeral", "Your reading list is empty"),
    ("unsave 0001.00002", "ephemeral", "is not on your reading list"),
    ("read 0001.00002", "ephemeral", "Marked “Tutel"),
    ("export csv", "ephemeral", "Nobody has upvoted a paper yet"),
    ("present 0001.00002", "in_channel", "will present “Tutel"),
    ("club", "ephemeral", "No journal club talks planned"),
    ("settings", "ephemeral", "Anyone can change channels' topics"),
]


def test_the_table_covers_every_registered_command() -> None:
    assert {text.split()[0] for text, _, _ in SUBCOMMANDS} == set(COMMANDS)


@pytest.mark.parametrize(("text", "audience", "says"), SUBCOMMANDS)
async def test_each_subcommand_is_answered_in_the_ack(
    slack: Workspace, text: str, audience: str, says: str
) -> None:
    answer = await slack.command(text)

    assert answer.status == 200
    body = answer.json()
    assert body["response_type"] == audience
    assert says in everything(body)
    assert body["text"], "every message carries a plain-text fallback"
    assert block_kit_problems(body["blocks"], body["text"]) == []
    assert slack.fake.calls_to("response_url") == []


async def test_a_conversation_changes_the_channel(slack: Workspace, store: Store) -> None:
    assert (await slack.command('subscribe "attention sinks"')).status == 200
    listed = (await slack.command("subscriptions")).json()
    assert '`"attention sinks"`' in everything(listed)

    await slack.command("vote 0001.00001", user="U1")
    await slack.command("vote 0001.00001", user="U2")
    top = (await slack.command("top week")).json()
    assert "Efficient Streaming" in everything(top)
    assert "▲ Upvote · 2" in everything(top)

    shared = (await slack.command("share https://arxiv.org/abs/0001.00004v2 look")).json()
    assert f"Shared by <@{USER}>" in everything(shared)
    shares = await store.shares_since(HERE, NOW - timedelta(days=1))
    assert [(s.paper_id, s.user, s.comment) for s in shares] == [("0001.00004", USER, "look")]

    await slack.command("schedule 07:15 UTC daily")
    settings = await store.channel_settings(HERE)
    assert settings is not None
    assert (settings.schedule.at, settings.schedule.days) == (time(7, 15), "daily")

    await slack.command("unsubscribe 1")
    assert await store.subscriptions(HERE) == []


async def test_channels_and_workspaces_are_kept_apart(slack: Workspace, store: Store) -> None:
    await slack.command("subscribe cat:cs.CL", channel="C1")
    other = (await slack.command("subscriptions", channel="C2")).json()
    assert "follows no topics" in everything(other)
    assert [s.query for s in await store.subscriptions(ChannelRef("slack", TEAM, "C1"))] == [
        "cat:cs.CL"
    ]


async def test_empty_text_shows_help(slack: Workspace) -> None:
    body = (await slack.command("")).json()
    assert "Paperboy brings research papers" in everything(body)
    assert body["response_type"] == "ephemeral"


async def test_unknown_command_is_a_friendly_ephemeral_error(slack: Workspace) -> None:
    body = (await slack.command("serach attention")).json()
    assert body["response_type"] == "ephemeral"
    assert "Did you mean `/papers search`?" in everything(body)


async def test_oversized_text_is_refused_kindly(slack: Workspace) -> None:
    body = (await slack.command("search " + "transformer " * 500)).json()
    assert body["response_type"] == "ephemeral"
    assert "too long" in everything(body)
    assert block_kit_problems(body["blocks"], body["text"]) == []


@pytest.mark.parametrize(
    "text",
    ["search Ragnarök", 'subscribe "模型 评测" OR 🚀', "search <!channel> &amp; <@U999>"],
)
async def test_unicode_and_markup_are_safe(slack: Workspace, text: str) -> None:
    answer = await slack.command(text)
    assert answer.status == 200
    body = answer.json()
    assert block_kit_problems(body["blocks"], body["text"]) == []
    seen = everything(body)
    assert "<!channel>" not in seen and "<@U999>" not in seen  # typed text never pings anyone


async def test_search_finds_unicode_titles(slack: Workspace) -> None:
    assert "Ragnarök" in everything((await slack.command("search Ragnarök")).json())


async def test_a_typo_is_read_and_the_reply_says_so(slack: Workspace) -> None:
    body = (await slack.command("search atention sinks")).json()
    seen = everything(body)
    assert "Read “atention” as “attention”: no paper has “atention”." in seen
    assert "Results for attention sinks" in seen and "Attention Sinks" in seen
    assert block_kit_problems(body["blocks"], body["text"]) == []


async def test_a_slow_answer_acks_at_once_then_uses_response_url(
    store: Store, index: SearchIndex, make_slack_app: Callable[..., SlackApp], serve: Serve
) -> None:
    lookup = SlowLookup([new_paper("2401.00042")], delay=0.3)
    bot = Paperboy(store, index, lookup=lookup, clock=lambda: NOW)
    slack = await serve(make_slack_app(bot=bot, ack_budget=0.05))

    answer = await slack.command("show 2401.00042")

    assert answer.json() == {"text": WORKING_TEXT, "response_type": "ephemeral"}
    [later] = await slack.fake.wait_for("response_url")
    assert later.params["response_type"] == "ephemeral"
    assert "A Paper Nobody Had Seen" in everything(later.params)
    assert block_kit_problems(later.params["blocks"], later.params["text"]) == []
    assert lookup.calls == [["2401.00042"]]


async def test_a_slow_shared_answer_goes_in_channel(
    store: Store, index: SearchIndex, make_slack_app: Callable[..., SlackApp], serve: Serve
) -> None:
    bot = Paperboy(store, index, lookup=SlowLookup([new_paper()], delay=0.2), clock=lambda: NOW)
    slack = await serve(make_slack_app(bot=bot, ack_budget=0.05))

    await slack.command("share 2401.00042 new!")

    [later] = await slack.fake.wait_for("response_url")
    assert later.params["response_type"] == "in_channel"
    assert "new!" in everything(later.params)


class GatedLookup:
    """A live lookup that holds every caller until the test opens the gate (then finds nothing),
    and remembers how many callers it held at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = 0
        self.most_at_once = 0
        self._arrived = asyncio.Condition()

    async def lookup(self, paper_ids: Sequence[str]) -> list[Paper]:
        async with self._arrived:
            self.waiting += 1
            self.most_at_once = max(self.most_at_once, self.waiting)
            self._arrived.notify_all()
        await self.gate.wait()
        self.waiting -= 1
        return []

    async def holding(self, count: int) -> None:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: self.waiting >= count), 5)


async def test_a_burst_waits_its_turn_but_every_ack_keeps_the_budget(
    store: Store, index: SearchIndex, make_slack_app: Callable[..., SlackApp], serve: Serve
) -> None:
    lookup = GatedLookup()
    bot = Paperboy(store, index, lookup=lookup, clock=lambda: NOW)
    slack = await serve(make_slack_app(bot=bot, ack_budget=0.2))
    burst = 2 * CORE_SLOTS + 3

    acks = await asyncio.gather(
        *(slack.command(f"show 2401.{n:05d}", user=f"U{n}") for n in range(100, 100 + burst))
    )

    # Those still waiting for a turn are told the answer is coming, like the slow ones.
    assert [a.json()["text"] for a in acks] == [WORKING_TEXT] * burst
    await lookup.holding(CORE_SLOTS)
    await asyncio.sleep(0.05)  # room for a ninth, were one let in
    assert lookup.most_at_once == CORE_SLOTS
    lookup.gate.set()
    later = await slack.fake.wait_for("response_url", burst)
    answered = {p for call in later for p in re.findall(r"2401\.\d{5}", everything(call.params))}
    assert answered == {f"2401.{n:05d}" for n in range(100, 100 + burst)}


async def test_a_failing_response_url_is_logged_not_raised(
    store: Store, index: SearchIndex, make_slack_app: Callable[..., SlackApp], serve: Serve,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    bot = Paperboy(store, index, lookup=SlowLookup([new_paper()], delay=0.1), clock=lambda: NOW)
    app = make_slack_app(bot=bot, ack_budget=0.01)
    slack = await serve(app)

    await slack.command("show 2401.00042", response_url="http://127.0.0.1:9/nowhere")
    await app.drain()

    assert "could not answer /papers through response_url" in caplog.text


async def test_a_command_without_its_ids_gets_a_friendly_error(slack: Workspace) -> None:
    answer = await slack.command("help", team_id="")
    assert answer.status == 200
    assert answer.json() == {"text": MALFORMED_TEXT, "response_type": "ephemeral"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
        (b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        (b'{"type": ', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        ("command=/papers&text=caf\xe9".encode("latin-1"), "application/x-www-form-urlencoded"),
        (b"nothing=here", "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_payloads_get_400_never_500(
    slack: Workspace, body: bytes, content_type: str
) -> None:
    answer = await slack.send(body, content_type)
    assert answer.status == 400


async def test_an_oversized_body_is_refused(slack: Workspace) -> None:
    body = b"text=" + b"x" * (2 * 1024 * 1024)
    assert (await slack.send(body)).status == 413


async def test_a_block_action_of_another_kind_is_not_a_500(slack: Workspace) -> None:
    payload = {"type": "block_actions", "actions": [{"action_id": "something_else"}],
               "team": {"id": TEAM}, "user": {"id": USER}}  # fmt: skip
    answer = await slack.send(b"payload=" + json.dumps(payload).encode())
    assert answer.status < 500
