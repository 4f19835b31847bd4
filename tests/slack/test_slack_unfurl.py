"""Pasted paper links: unfurled as a paper card (chat.unfurl) and recorded as a team share;
anything that is not a paper is ignored without a word."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from adapters.slack_app import SlackApp
from bot.commands import Paperboy
from bot.models import ChannelRef
from bot.search import SearchIndex
from bot.storage import Store
from tests.papers import NOW
from tests.slack.fake_slack import BOT_USER, block_kit_problems
from tests.slack.workspace import (
    CHANNEL,
    TEAM,
    USER,
    Serve,
    SlowLookup,
    Workspace,
    new_paper,
    payload,
)

HERE = ChannelRef("slack", TEAM, CHANNEL)


def link_event(*urls: str, event_id: str = "Ev0001LINK", **changes: Any) -> dict[str, Any]:
    body = payload("link_shared")
    body["event_id"] = event_id
    body["event"]["links"] = [{"domain": url.split("/")[2], "url": url} for url in urls]
    body["event"].update(changes)
    return body


async def shares(store: Store) -> list[tuple[str, str]]:
    return [(s.paper_id, s.user) for s in await store.shares_since(HERE, NOW - timedelta(days=1))]


async def test_a_paper_link_is_unfurled_and_recorded_as_a_share(
    slack: Workspace, store: Store
) -> None:
    url = "https://arxiv.org/abs/0001.00001v2"

    answer = await slack.event(link_event(url))

    assert answer.status == 200
    [call] = await slack.fake.wait_for("chat.unfurl")
    assert (call.params["channel"], call.params["ts"]) == (CHANNEL, "1700000200.000300")
    card = call.unfurls()[url]["blocks"]
    assert block_kit_problems(card) == []
    assert "Efficient Streaming Language Models with Attention Sinks" in card[0]["text"]["text"]
    assert card[0]["accessory"]["value"] == "0001.00001"
    assert await shares(store) == [("0001.00001", USER)]


async def test_every_paper_link_in_a_message_gets_a_card(slack: Workspace, store: Store) -> None:
    urls = ["https://huggingface.co/papers/0001.00002", "https://www.alphaxiv.org/abs/0001.00003",
            "https://arxiv.org/pdf/0001.00004.pdf"]  # fmt: skip

    await slack.event(link_event(*urls))

    [call] = await slack.fake.wait_for("chat.unfurl")
    assert sorted(call.unfurls()) == sorted(urls)
    assert sorted(await shares(store)) == [(f"0001.0000{n}", USER) for n in (2, 3, 4)]


async def test_links_that_are_not_papers_are_ignored_silently(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    await slack.event(
        link_event("https://arxiv.org/list/cs.CL/recent", "https://huggingface.co/papers")
    )
    await slack_app.drain()

    assert slack.fake.calls_to("chat.unfurl") == []
    assert await shares(store) == []


async def test_an_unknown_paper_is_looked_up_then_unfurled(
    store: Store, index: SearchIndex, make_slack_app: Callable[..., SlackApp], serve: Serve
) -> None:
    lookup = SlowLookup([new_paper("2401.00042")], delay=0.05)
    slack = await serve(make_slack_app(bot=Paperboy(store, index, lookup=lookup)))
    url = "https://arxiv.org/abs/2401.00042"

    await slack.event(link_event(url))

    [call] = await slack.fake.wait_for("chat.unfurl")
    assert "A Paper Nobody Had Seen" in call.unfurls()[url]["blocks"][0]["text"]["text"]
    assert lookup.calls == [["2401.00042"]]
    assert await store.get_paper("2401.00042") is not None


async def test_a_link_to_a_paper_arxiv_does_not_know_is_ignored(
    store: Store, index: SearchIndex, make_slack_app: Callable[..., SlackApp], serve: Serve
) -> None:
    app = make_slack_app(bot=Paperboy(store, index, lookup=SlowLookup([])))
    slack = await serve(app)

    await slack.event(link_event("https://arxiv.org/abs/2401.99999"))
    await app.drain()

    assert slack.fake.calls_to("chat.unfurl") == []
    assert await shares(store) == []


async def test_a_retried_event_is_handled_once(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    event = link_event("https://arxiv.org/abs/0001.00001")

    await slack.event(event)
    await slack.event(event, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    await slack_app.drain()

    assert len(slack.fake.calls_to("chat.unfurl")) == 1
    assert await shares(store) == [("0001.00001", USER)]


async def test_a_link_in_a_message_being_written_is_shown_not_shared(
    slack: Workspace, store: Store
) -> None:
    url = "https://arxiv.org/abs/0001.00001"
    draft = "Uxxxxxxx-909b5454-75f8-4ac4-b325-1b40e230bbd8-gryl3kb80b3wm49ihzoo35fyqoq08n2y"
    event = link_event(url, channel="COMPOSER", source="composer", unfurl_id="U1.composer.1",
                       message_ts=draft)  # fmt: skip

    await slack.event(event)

    [call] = await slack.fake.wait_for("chat.unfurl")
    assert (call.params["unfurl_id"], call.params["source"]) == ("U1.composer.1", "composer")
    assert url in call.unfurls()
    assert await shares(store) == []


async def test_links_in_our_own_messages_are_not_shares(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    await slack.event(link_event("https://arxiv.org/abs/0001.00001", user=BOT_USER))
    await slack_app.drain()

    assert slack.fake.calls_to("chat.unfurl") == []
    assert await shares(store) == []


async def test_an_unfurl_slack_refuses_is_logged(slack: Workspace, slack_app: SlackApp) -> None:
    slack.fake.fail("chat.unfurl", "cannot_unfurl_url")

    answer = await slack.event(link_event("https://arxiv.org/abs/0001.00001"))
    await slack.fake.wait_for("chat.unfurl")
    await slack_app.drain()

    assert answer.status == 200


async def test_a_link_event_without_its_fields_is_ignored(
    slack: Workspace, slack_app: SlackApp
) -> None:
    event = link_event("https://arxiv.org/abs/0001.00001")
    del event["event"]["channel"]

    assert (await slack.event(event)).status == 200
    await slack_app.drain()
    assert slack.fake.calls_to("chat.unfurl") == []
