"""The persistent upvote buttons: a click toggles the vote and updates the count in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.commands import Paperboy
from bot.search import SearchIndex
from bot.storage import Store
from tests.discord.conftest import (
    ADA,
    CHANNEL,
    EPHEMERAL,
    GRACE,
    Gateway,
    SlowLookup,
    all_buttons,
    buttons,
    callback,
    descriptions,
)
from tests.papers import paper


async def _shown(gateway: Gateway, paper_id: str) -> dict[str, Any]:
    asked = gateway.command("papers", "show", {"paper": paper_id})
    data: dict[str, Any] = callback(await gateway.api.answers(asked))["data"]
    return data


async def test_a_click_toggles_the_vote_and_updates_the_count(
    gateway: Gateway, store: Store
) -> None:
    shown = await _shown(gateway, "0001.00001")
    custom_id = buttons(shown)[0]["custom_id"]

    click = gateway.click(custom_id, on=shown, ephemeral=True)
    calls = await gateway.api.answers(click, count=2)

    update = callback(calls)
    assert update["type"] == 7  # UPDATE_MESSAGE: the message the button is on, edited in place
    assert buttons(update["data"]) == [
        {"type": 2, "style": 2, "disabled": False, "label": "▲ Upvote · 1", "custom_id": custom_id},
        {
            "type": 2,
            "style": 2,
            "disabled": False,
            "label": "🔖 Save",
            "custom_id": "paperboy:save:0001.00001",
        },
    ]
    assert "embeds" not in update["data"]  # the paper itself is left as it was
    told = calls[1]
    assert told.body["flags"] & EPHEMERAL
    assert told.body["embeds"][0]["description"].startswith("Upvoted “Efficient Streaming")
    assert await store.vote_counts(CHANNEL, ["0001.00001"]) == {"0001.00001": 1}

    again = gateway.click(custom_id, on=update["data"])
    calls = await gateway.api.answers(again, count=2)

    assert buttons(callback(calls)["data"])[0]["label"] == "▲ Upvote · 0"
    assert calls[1].body["embeds"][0]["description"].startswith("Removed your vote")
    assert await store.vote_counts(CHANNEL, ["0001.00001"]) == {}


async def test_votes_are_per_person(gateway: Gateway) -> None:
    shown = await _shown(gateway, "0001.00002")
    custom_id = buttons(shown)[0]["custom_id"]

    ada = callback(await gateway.api.answers(gateway.click(custom_id, on=shown, as_user=ADA), 2))
    grace = gateway.click(custom_id, on=ada["data"], as_user=GRACE)
    after = callback(await gateway.api.answers(grace, 2))

    assert buttons(after["data"])[0]["label"] == "▲ Upvote · 2"


async def test_only_the_clicked_papers_button_changes_in_a_list(gateway: Gateway) -> None:
    asked = gateway.command("papers", "trending", {"span": "week"})
    listed = callback(await gateway.api.answers(asked))["data"]
    # votes for the eight papers on two rows, their Save buttons on two more
    assert [len(row["components"]) for row in listed["components"]] == [5, 3, 5, 3]
    second = buttons(listed)[1]

    click = gateway.click(second["custom_id"], on=listed, ephemeral=True)
    update = callback(await gateway.api.answers(click, 2))["data"]

    before = [b["label"] for b in buttons(listed)]
    after = [b["label"] for b in buttons(update)]
    assert after == [*before[:1], "#2 ▲ 1", *before[2:]]
    assert [len(row["components"]) for row in update["components"]] == [5, 3, 5, 3]
    assert [b["custom_id"] for b in all_buttons(update)] == [
        b["custom_id"] for b in all_buttons(listed)
    ]


async def test_buttons_keep_working_after_a_restart(
    bot: Paperboy, gateway: Gateway, connect: Callable[..., Any], store: Store
) -> None:
    shown = await _shown(gateway, "0001.00004")
    assert gateway.client is not None
    await gateway.client.close()

    gateway.client = await connect(bot)  # a new process: it knows nothing of the old message
    click = gateway.click("paperboy:vote:0001.00004", on=shown)
    calls = await gateway.api.answers(click, count=2)

    assert callback(calls)["type"] == 7
    assert buttons(callback(calls)["data"])[0]["label"] == "▲ Upvote · 1"
    assert await store.vote_counts(CHANNEL, ["0001.00004"]) == {"0001.00004": 1}


async def test_a_button_for_an_unknown_paper_answers_privately(gateway: Gateway) -> None:
    shown = _with_button(await _shown(gateway, "0001.00001"), "paperboy:vote:2401.99999")
    click = gateway.click("paperboy:vote:2401.99999", on=shown)

    answer = callback(await gateway.api.answers(click))

    assert answer["type"] == 4
    assert answer["data"]["flags"] & EPHEMERAL
    assert "could not find paper `2401.99999`" in descriptions(answer["data"])


async def test_a_slow_vote_defers_then_edits_the_message(
    bot: Paperboy, store: Store, index: SearchIndex, gateway: Gateway, connect: Callable[..., Any]
) -> None:
    shown = _with_button(await _shown(gateway, "0001.00001"), "paperboy:vote:2411.00077")
    lookup = SlowLookup([paper(1, id="2411.00077")])
    gateway.client = await connect(Paperboy(store, index, lookup=lookup), answer_within=0.05)

    click = gateway.click("paperboy:vote:2411.00077", on=shown)
    (deferred,) = await gateway.api.answers(click)
    assert deferred.body == {"type": 6}  # DEFERRED_UPDATE_MESSAGE
    lookup.release.set()
    calls = await gateway.api.answers(click, count=3)

    assert (calls[1].method, calls[1].path.rsplit("/", 1)[-1]) == ("PATCH", "@original")
    assert "components" in calls[1].body
    assert calls[2].body["flags"] & EPHEMERAL


def _with_button(sent: dict[str, Any], custom_id: str) -> dict[str, Any]:
    """The same message with its vote button pointing somewhere else (an old or odd message)."""
    (row,) = sent["components"]
    button, *others = row["components"]
    moved = [{**button, "custom_id": custom_id}, *others]
    return {**sent, "components": [{**row, "components": moved}]}


async def test_more_like_this_answers_the_clicker_privately(gateway: Gateway) -> None:
    shown = await _shown(gateway, "0001.00001")
    [more] = [b for b in all_buttons(shown) if b not in buttons(shown)]
    assert (more["label"], more["custom_id"]) == ("More like this", "paperboy:similar:0001.00001")

    answer = callback(await gateway.api.answers(gateway.click(more["custom_id"], on=shown)))

    assert answer["type"] == 4  # a new message, not an edit of the one clicked
    assert answer["data"]["flags"] & EPHEMERAL
    assert answer["data"]["content"].startswith("**More like “Efficient Streaming Language")
    cards = [embed["description"] for embed in answer["data"]["embeds"]]
    assert cards and not any("`0001.00001`" in card for card in cards)  # never the paper itself
    assert all(card.startswith("`0001.") for card in cards)  # seed papers, by their ids


async def test_more_like_this_on_a_short_list_sits_below_the_other_buttons_in_order(
    gateway: Gateway,
) -> None:
    asked = gateway.command("papers", "search", {"query": "attention"})
    listed = callback(await gateway.api.answers(asked))["data"]

    votes = [b["custom_id"].rsplit(":", 1)[1] for b in buttons(listed) if "vote" in b["custom_id"]]
    more = [b for b in all_buttons(listed) if b not in buttons(listed)]
    assert 1 < len(votes) <= 5
    assert [b["custom_id"] for b in more] == [f"paperboy:similar:{pid}" for pid in votes]
    assert more[1]["label"] == "#2 More like this"
    assert len(listed["components"]) <= 5


async def test_a_list_too_long_for_every_more_like_this_shows_none(gateway: Gateway) -> None:
    listed = callback(await gateway.api.answers(gateway.command("papers", "trending", {})))["data"]

    assert len([b for b in buttons(listed) if "vote" in b["custom_id"]]) > 5
    assert all_buttons(listed) == buttons(listed)  # upvotes and saves, no partial set
    assert len(listed["components"]) <= 5
