"""The Upvote button: toggles the clicker's vote, redraws the count in place, and never counts
one click twice (Slack retries, double clicks, concurrent deliveries)."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.slack_app import SlackApp
from bot.models import ChannelRef
from bot.storage import Store
from tests.slack.workspace import CHANNEL, TEAM, FakeClock, Workspace

HERE = ChannelRef("slack", TEAM, CHANNEL)
PAPER = "0001.00001"


async def shared_list(slack: Workspace) -> dict[str, Any]:
    """A message everyone in the channel sees, as Slack would hand it back in block_actions."""
    answer = (await slack.command("search attention --share")).json()
    assert answer["response_type"] == "in_channel"
    return {"ts": "1700000000.000100", "blocks": answer["blocks"], "text": answer["text"]}


def button_label(blocks: list[dict[str, Any]], paper_id: str) -> str:
    block = next(b for b in blocks if b.get("accessory", {}).get("value") == paper_id)
    label: str = block["accessory"]["text"]["text"]
    return label


async def votes(store: Store, paper_id: str = PAPER) -> int:
    return (await store.vote_counts(HERE, [paper_id])).get(paper_id, 0)


async def test_a_click_votes_and_redraws_the_count_in_place(slack: Workspace, store: Store) -> None:
    message = await shared_list(slack)

    answer = await slack.action(slack.click_payload(message, PAPER, user="U1"))

    assert answer.status == 200
    [update] = await slack.fake.wait_for("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (CHANNEL, message["ts"])
    assert button_label(update.blocks(), PAPER) == "▲ Upvote · 1"
    assert button_label(update.blocks(), "0001.00008") == "▲ Upvote"  # the rest is untouched
    assert update.params["text"] == message["text"]
    [confirm] = await slack.fake.wait_for("response_url")
    assert confirm.params["response_type"] == "ephemeral"
    assert confirm.params["replace_original"] is False
    assert confirm.params["text"].startswith("Upvoted “Efficient Streaming")
    assert await votes(store) == 1


async def test_votes_toggle_per_user_and_count_for_the_team(
    slack: Workspace, store: Store, fake_clock: FakeClock
) -> None:
    message = await shared_list(slack)

    await slack.action(slack.click_payload(message, PAPER, user="U1"))
    await slack.action(slack.click_payload(message, PAPER, user="U2"))
    updates = await slack.fake.wait_for("chat.update", 2)
    assert button_label(updates[-1].blocks(), PAPER) == "▲ Upvote · 2"

    fake_clock.advance(5)  # later, U1 changes their mind
    await slack.action(slack.click_payload(message, PAPER, user="U1"))
    updates = await slack.fake.wait_for("chat.update", 3)
    assert button_label(updates[-1].blocks(), PAPER) == "▲ Upvote · 1"
    confirms = await slack.fake.wait_for("response_url", 3)
    assert confirms[-1].params["text"].startswith("Removed your vote")
    assert await votes(store) == 1


async def test_slack_retrying_the_same_click_never_counts_twice(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    message = await shared_list(slack)
    click = slack.click_payload(message, PAPER)

    first = await slack.action(click)
    retries = await asyncio.gather(
        *(slack.action(click, headers={"X-Slack-Retry-Num": str(n),
                                       "X-Slack-Retry-Reason": "http_timeout"})
          for n in (1, 2, 3))
    )  # fmt: skip
    await slack_app.drain()

    assert first.status == 200
    assert all(retry.status == 200 for retry in retries)
    assert await votes(store) == 1
    assert len(slack.fake.calls_to("chat.update")) == 1


async def test_concurrent_deliveries_of_one_click_count_once(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    message = await shared_list(slack)
    click = slack.click_payload(message, PAPER)

    await asyncio.gather(*(slack.action(click) for _ in range(5)))
    await slack_app.drain()

    assert await votes(store) == 1


async def test_a_double_click_counts_once(
    slack: Workspace, store: Store, slack_app: SlackApp, fake_clock: FakeClock
) -> None:
    message = await shared_list(slack)

    await slack.action(slack.click_payload(message, PAPER, user="U1"))
    fake_clock.advance(0.3)
    await slack.action(slack.click_payload(message, PAPER, user="U1"))  # a new trigger_id
    await slack_app.drain()

    assert await votes(store) == 1
    assert len(slack.fake.calls_to("chat.update")) == 1


async def test_an_ephemeral_list_is_redrawn_through_response_url(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    answer = (await slack.command("search attention")).json()
    assert answer["response_type"] == "ephemeral"
    # When Slack includes the ephemeral message, its card is redrawn for the clicker.
    message = {"ts": "1700000000.000200", "blocks": answer["blocks"], "text": answer["text"]}
    click = slack.click_payload(message, PAPER, ephemeral=True)
    click["message"] = {"ts": message["ts"], "blocks": message["blocks"], "text": "x"}

    await slack.action(click)
    [replace] = await slack.fake.wait_for("response_url")
    await slack_app.drain()

    assert replace.params["replace_original"] is True
    assert button_label(replace.params["blocks"], PAPER) == "▲ Upvote · 1"
    assert slack.fake.calls_to("chat.update") == []
    assert await votes(store) == 1


async def test_an_ephemeral_click_without_the_message_still_confirms(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    answer = (await slack.command("search attention")).json()
    message = {"ts": "1700000000.000200", "blocks": answer["blocks"], "text": answer["text"]}
    click = slack.click_payload(message, PAPER, ephemeral=True)  # no "message", as Slack does

    await slack.action(click)
    [confirm] = await slack.fake.wait_for("response_url")
    await slack_app.drain()

    assert confirm.params["replace_original"] is False
    assert confirm.params["text"].startswith("Upvoted “Efficient Streaming")
    assert "(1 vote)" in confirm.params["text"]
    assert await votes(store) == 1


async def test_when_chat_update_fails_the_response_url_replaces_the_message(
    slack: Workspace, slack_app: SlackApp
) -> None:
    message = await shared_list(slack)
    slack.fake.fail("chat.update", "cant_update_message")

    await slack.action(slack.click_payload(message, PAPER))
    await slack.fake.wait_for("chat.update")
    await slack_app.drain()

    replace, confirm = slack.fake.calls_to("response_url")
    assert replace.params["replace_original"] is True
    assert button_label(replace.params["blocks"], PAPER) == "▲ Upvote · 1"
    assert confirm.params["response_type"] == "ephemeral"


async def test_a_click_on_an_unfurl_redraws_the_unfurl(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    url = "https://arxiv.org/abs/0001.00001"
    message = await shared_list(slack)
    click = slack.click_payload(message, PAPER)
    click["container"] = {
        "type": "message_attachment", "message_ts": "1700000300.000100", "attachment_id": 1,
        "channel_id": CHANNEL, "is_ephemeral": False, "is_app_unfurl": True,
        "app_unfurl_url": url,
    }  # fmt: skip
    click.pop("message")

    await slack.action(click)
    [redraw] = await slack.fake.wait_for("chat.unfurl")
    await slack_app.drain()

    assert redraw.params["ts"] == "1700000300.000100"
    assert button_label(redraw.unfurls()[url]["blocks"], PAPER) == "▲ Upvote · 1"
    assert await votes(store) == 1


async def test_a_click_for_an_unknown_paper_answers_only_the_clicker(
    slack: Workspace, store: Store, slack_app: SlackApp
) -> None:
    message = await shared_list(slack)
    click = slack.click_payload(message, PAPER)
    click["actions"][0]["value"] = "not-a-paper"

    await slack.action(click)
    [error] = await slack.fake.wait_for("response_url")
    await slack_app.drain()

    assert error.params["response_type"] == "ephemeral"
    assert "is not a paper id" in error.params["text"]
    assert slack.fake.calls_to("chat.update") == []


async def test_a_click_without_actions_is_ignored(slack: Workspace, slack_app: SlackApp) -> None:
    message = await shared_list(slack)
    click = slack.click_payload(message, PAPER)
    click["actions"][0].pop("value")

    answer = await slack.action(click)
    await slack_app.drain()

    assert answer.status == 200
    assert [c.method for c in slack.fake.calls if c.method != "auth.test"] == []


async def test_a_person_has_one_vote_per_paper_whatever_the_request_ids(
    slack: Workspace, store: Store, slack_app: SlackApp, fake_clock: FakeClock
) -> None:
    """Every click below has its own trigger_id, some from another channel of the workspace, one
    is typed: they all toggle the one vote this person has on this paper, never add a second."""
    message = await shared_list(slack)

    await slack.action(slack.click_payload(message, PAPER))
    await slack_app.drain()
    assert await votes(store) == 1

    fake_clock.advance(5)
    await slack.action(slack.click_payload(message, PAPER, channel="C2"))
    await slack_app.drain()
    assert await votes(store) == 0

    fake_clock.advance(5)
    clicks = [slack.click_payload(message, PAPER, channel=c) for c in (CHANNEL, "C2", CHANNEL)]
    assert len({click["trigger_id"] for click in clicks}) == 3
    await asyncio.gather(*(slack.action(click) for click in clicks))
    await slack_app.drain()
    assert await votes(store) == 1

    fake_clock.advance(5)
    typed = (await slack.command(f"vote {PAPER}", channel="C2")).json()
    assert typed["text"].startswith("Removed your vote")
    assert await votes(store) == 0
