"""Reading lists, exports, journal club and discussion counts on Discord (issue 12).

Driven through discord.py's own dispatch against the fake Discord; what is asserted is what a
member sees: the answer's text and who sees it, the buttons, the uploaded file, the DM.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import bibtexparser
import pytest

from adapters.discord_app import DiscordPoster
from adapters.discord_app.answers import UPLOAD_FAILED
from bot.club import ClubReminders
from bot.commands import Paperboy
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.replies import Notice, PaperCard, PaperDetail, PaperList
from bot.storage import Store
from tests.discord.conftest import (
    ADA,
    CHANNEL,
    EPHEMERAL,
    GRACE,
    GUILD_ID,
    Gateway,
    buttons,
    callback,
    descriptions,
)
from tests.discord.fake_discord import Call, ChannelError
from tests.papers import NOW, seed_papers

GREEN = 0x2ECC71
RED = 0xE74C3C


async def _answer(
    gateway: Gateway, sub: str, options: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    asked = gateway.command("papers", sub, options or {}, **kw)
    data: dict[str, Any] = callback(await gateway.api.answers(asked))["data"]
    return data


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Listeners run as tasks after the event is parsed: wait for their effect."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.02)


# -- reading list ---------------------------------------------------------------------------


async def test_save_saved_read_and_unsave_are_private(gateway: Gateway, store: Store) -> None:
    saved = await _answer(gateway, "save", {"paper": "0001.00002"})
    assert saved["flags"] & EPHEMERAL
    assert descriptions(saved).startswith("Saved “Tutel")
    assert "(1 unread)" in descriptions(saved)

    listed = await _answer(gateway, "saved")
    assert listed["flags"] & EPHEMERAL
    assert listed["content"].startswith("**Your reading list: 1 unread, 0 read**")
    (card,) = listed["embeds"]
    assert card["title"] == "1. Tutel: Adaptive Mixture-of-Experts at Scale"
    assert "🔖 unread" in card["description"]
    assert [b["custom_id"] for b in buttons(listed)] == ["paperboy:vote:0001.00002"]  # no Save

    read = await _answer(gateway, "read", {"paper": "0001.00002"})
    assert descriptions(read).startswith("Marked “Tutel")
    relisted = await _answer(gateway, "saved")
    assert "✓ read" in relisted["embeds"][0]["description"]

    others = await _answer(gateway, "saved", as_user=GRACE)
    assert "Your reading list is empty" in descriptions(others)

    removed = await _answer(gateway, "unsave", {"paper": "0001.00002"})
    assert descriptions(removed).startswith("Removed “Tutel")
    assert await store.reading_list(CHANNEL, str(ADA)) == []
    again = await _answer(gateway, "unsave", {"paper": "0001.00002"})
    assert again["embeds"][0]["color"] == RED
    assert "is not on your reading list" in descriptions(again)


async def test_unsave_suggests_papers_from_your_reading_list(gateway: Gateway) -> None:
    await _answer(gateway, "save", {"paper": "0001.00003"}, as_user=GRACE)
    typed = gateway.autocomplete("papers", "unsave", "paper", "dense", permissions=0)
    choices = callback(await gateway.api.answers(typed))["data"]["choices"]

    assert choices == [
        {
            "name": "Promptagator: Few-shot Dense Retrieval From 8 Examples · 0001.00003",
            "value": "0001.00003",
        }
    ]


async def test_the_save_button_saves_for_whoever_clicks(gateway: Gateway, store: Store) -> None:
    shared = await _answer(gateway, "share", {"paper": "0001.00004"})
    save = next(b for b in buttons(shared) if b["custom_id"].startswith("paperboy:save:"))
    assert (save["label"], save["custom_id"]) == ("🔖 Save", "paperboy:save:0001.00004")

    click = gateway.click(save["custom_id"], on=shared, as_user=GRACE)
    answer = callback(await gateway.api.answers(click))

    assert answer["type"] == 4  # a new private message; the shared paper is left as it was
    assert answer["data"]["flags"] & EPHEMERAL
    assert descriptions(answer["data"]).startswith("Saved “Pyramid Vision Transformer")
    assert [s.paper_id for s in await store.reading_list(CHANNEL, str(GRACE))] == ["0001.00004"]
    assert await store.reading_list(CHANNEL, str(ADA)) == []

    twice = callback(
        await gateway.api.answers(gateway.click(save["custom_id"], on=shared, as_user=GRACE))
    )
    assert "already on your reading list" in descriptions(twice["data"])


async def test_a_vote_click_keeps_the_save_buttons_of_a_list(gateway: Gateway) -> None:
    listed = await _answer(gateway, "trending", {"span": "week"})
    click = gateway.click(buttons(listed)[0]["custom_id"], on=listed)
    update = callback(await gateway.api.answers(click, 2))["data"]

    saves = [b["label"] for b in buttons(update) if b["custom_id"].startswith("paperboy:save:")]
    assert saves == [f"#{n} 🔖" for n in range(1, 9)]


# -- export ---------------------------------------------------------------------------------


def _upload(calls: list[Call]) -> tuple[dict[str, Any], str, str]:
    """The callback's payload, and the one file it carried (name and text)."""
    (sent,) = [c for c in calls if c.path.endswith("/callback")]
    (upload,) = sent.files
    return sent.body, upload.filename, upload.data.decode("utf-8")


async def test_export_uploads_the_teams_papers_for_the_channel(gateway: Gateway) -> None:
    for paper_id, voters in (("0001.00003", (ADA, GRACE)), ("0001.00001", (ADA,))):
        for voter in voters:
            await _answer(gateway, "vote", {"paper": paper_id}, as_user=voter)

    asked = gateway.command("papers", "export", {"format": "csv"})
    body, filename, text = _upload(await gateway.api.answers(asked))

    assert body["type"] == 4
    assert not body["data"].get("flags", 0) & EPHEMERAL  # the channel gets the file
    assert body["data"]["attachments"] == [{"id": 0, "filename": filename}]
    assert filename == "paperboy-team-papers-2026-11-26.csv"
    assert "CSV of the team's upvoted papers, most votes first (2 papers)" in descriptions(
        body["data"]
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["id"], r["votes"]) for r in rows] == [("0001.00003", "2"), ("0001.00001", "1")]


async def test_export_saved_is_your_reading_list_privately_in_bibtex(gateway: Gateway) -> None:
    await _answer(gateway, "save", {"paper": "0001.00004"})

    asked = gateway.command("papers", "export", {"saved": True})
    body, filename, text = _upload(await gateway.api.answers(asked))

    assert body["data"]["flags"] & EPHEMERAL
    assert filename == "paperboy-reading-list-2026-11-26.bib"
    (entry,) = bibtexparser.parse_string(text).entries
    assert entry["eprint"] == "0001.00004"
    assert entry["title"].startswith("Pyramid Vision Transformer")


async def test_nothing_to_export_is_said_plainly(gateway: Gateway) -> None:
    data = await _answer(gateway, "export", {"format": "bibtex"})

    assert data["flags"] & EPHEMERAL
    assert "Nobody has upvoted a paper yet: nothing to export" in descriptions(data)
    assert not [c for c in gateway.api.calls if c.files]


async def test_a_failed_upload_is_explained_and_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    await _answer(gateway, "vote", {"paper": "0001.00001"})
    gateway.api.upload_error = ChannelError(
        413, {"message": "Request entity too large", "code": 40005}
    )

    with caplog.at_level(logging.WARNING, "adapters.discord_app.answers"):
        asked = gateway.command("papers", "export", {"format": "csv"})
        calls = await gateway.api.answers(asked, count=2)

    told = calls[-1].body
    assert told["data"]["flags"] & EPHEMERAL
    assert descriptions(told["data"]) == UPLOAD_FAILED
    assert "Could not upload paperboy-team-papers-2026-11-26.csv to Discord" in caplog.text
    assert "Traceback" not in descriptions(told["data"])


# -- journal club ---------------------------------------------------------------------------


async def test_present_club_and_cancel(gateway: Gateway, store: Store) -> None:
    claimed = await _answer(gateway, "present", {"paper": "0001.00002", "date": "2026-12-03"})
    assert not claimed.get("flags", 0) & EPHEMERAL  # the channel sees who presents
    assert "Ada will present “Tutel" in descriptions(claimed)
    assert "Thu 03 Dec 2026" in descriptions(claimed)

    taken = await _answer(gateway, "present", {"paper": "0001.00002"}, as_user=GRACE)
    assert taken["flags"] & EPHEMERAL
    assert "already claimed “Tutel" in descriptions(taken)

    agenda = await _answer(gateway, "club")
    assert "Journal club here (1 planned)" in descriptions(agenda)
    assert "Tutel" in descriptions(agenda)

    refused = await _answer(
        gateway, "present", {"paper": "0001.00002", "cancel": True}, as_user=GRACE
    )
    assert "Only Ada, who claimed it, can cancel" in descriptions(refused)
    cancelled = await _answer(gateway, "present", {"paper": "0001.00002", "cancel": True})
    assert "will no longer present `0001.00002`" in descriptions(cancelled)
    assert await store.club_claim(CHANNEL, "0001.00002") is None

    # The reminder says `/papers present cancel <id>`; typed that way into `paper`, it works.
    await _answer(gateway, "present", {"paper": "0001.00003"})
    as_hinted = await _answer(gateway, "present", {"paper": "cancel 0001.00003"})
    assert "will no longer present `0001.00003`" in descriptions(as_hinted)


async def test_the_presenter_is_reminded_by_direct_message(gateway: Gateway, bot: Paperboy) -> None:
    await _answer(gateway, "present", {"paper": "0001.00002"})  # Thursday: the next Monday
    assert gateway.client is not None
    poster = DiscordPoster(gateway.client)

    outcomes = await ClubReminders(bot.store, {"discord": poster}).run_due(
        datetime(2026, 11, 29, 9, 1, tzinfo=UTC)
    )

    assert outcomes["sent"] == 1
    (opened,) = gateway.api.matching("POST", "/users/@me/channels")
    assert int(opened.body["recipient_id"]) == ADA
    (dm_channel,) = gateway.api.dm_channels
    (sent,) = gateway.api.matching("POST", f"/channels/{dm_channel}/messages")
    assert "tomorrow (Mon 30 Nov) you present “Tutel" in descriptions(sent.body)


# -- direct messages through the poster -----------------------------------------------------


@pytest.fixture
def poster(gateway: Gateway) -> DiscordPoster:
    assert gateway.client is not None
    return DiscordPoster(gateway.client)


async def test_a_direct_message_opens_the_dm_then_posts(
    poster: DiscordPoster, gateway: Gateway
) -> None:
    await poster.post(
        ChannelRef.direct("discord", str(GUILD_ID), str(GRACE)), Notice("Hi", public=True)
    )
    await poster.post(
        ChannelRef.direct("discord", str(GUILD_ID), str(GRACE)), Notice("Again", public=True)
    )

    opened = gateway.api.matching("POST", "/users/@me/channels")
    assert [int(c.body["recipient_id"]) for c in opened] == [GRACE]  # opened once, then reused
    (dm_channel,) = gateway.api.dm_channels
    sent = gateway.api.matching("POST", f"/channels/{dm_channel}/messages")
    assert [descriptions(c.body) for c in sent] == ["Hi", "Again"]


async def test_closed_dms_are_a_permanent_failure_tried_once(
    poster: DiscordPoster, gateway: Gateway
) -> None:
    gateway.api.closed_dms.add(GRACE)

    with pytest.raises(DeliveryError) as raised:
        await poster.post(ChannelRef.direct("discord", str(GUILD_ID), str(GRACE)), Notice("Hi"))

    assert raised.value.permanent
    assert "Cannot send messages to this user (code 50007)" in raised.value.reason
    (dm_channel,) = gateway.api.dm_channels
    assert len(gateway.api.matching("POST", f"/channels/{dm_channel}/messages")) == 1


async def test_an_unknown_person_or_odd_id_is_a_permanent_failure(
    poster: DiscordPoster, gateway: Gateway
) -> None:
    gateway.api.unknown_users.add(GRACE)
    with pytest.raises(DeliveryError) as unknown:
        await poster.post(ChannelRef.direct("discord", str(GUILD_ID), str(GRACE)), Notice("Hi"))
    with pytest.raises(DeliveryError) as odd:
        await poster.post(ChannelRef.direct("discord", str(GUILD_ID), "alice"), Notice("Hi"))

    assert unknown.value.permanent and "Invalid Recipient" in unknown.value.reason
    assert odd.value.permanent


# -- discussion -----------------------------------------------------------------------------


async def _discussed(store: Store) -> list[tuple[str, int]]:
    return await store.most_discussed(CHANNEL, NOW - timedelta(days=7), limit=5)


async def test_replies_and_thread_messages_under_a_shared_paper_count(
    gateway: Gateway, store: Store
) -> None:
    await _answer(gateway, "share", {"paper": "0001.00005"})
    posted = int(gateway.api.messages[-1]["id"])  # the id Discord gave the shared paper

    gateway.post("great baselines", reply_to=posted, author=GRACE, message_id=posted + 1)
    gateway.post("agreed", thread=posted, author=ADA, message_id=posted + 2)
    gateway.post("agreed", thread=posted, author=ADA, message_id=posted + 2)  # redelivered
    gateway.post("unrelated", reply_to=posted + 99, author=ADA)
    gateway.post("from a bot", reply_to=posted, author=GRACE + 1, bot=True)

    async def counted_two() -> bool:
        return await _discussed(store) == [("0001.00005", 2)]

    await _eventually(counted_two)
    await asyncio.sleep(0.1)
    assert await _discussed(store) == [("0001.00005", 2)]


async def test_the_poster_remembers_a_single_paper_but_not_a_digest(
    poster: DiscordPoster, gateway: Gateway, store: Store
) -> None:
    one, two, three = (PaperCard(p) for p in seed_papers()[2:5])
    await poster.post(CHANNEL, PaperDetail(one, public=True))
    single = int(gateway.api.messages[-1]["id"])
    await poster.post(CHANNEL, PaperList("Picks", (two, three), total=2, public=True))
    digest = int(gateway.api.messages[-1]["id"])

    gateway.post("I tried this", reply_to=single, author=GRACE)
    gateway.post("which one?", reply_to=digest, author=GRACE)

    async def counted() -> bool:
        return await _discussed(store) == [(one.paper.id, 1)]

    await _eventually(counted)
    await asyncio.sleep(0.1)
    assert await _discussed(store) == [(one.paper.id, 1)]


async def test_a_file_over_the_servers_upload_limit_is_refused_clearly(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    await _answer(gateway, "vote", {"paper": "0001.00001"})
    with caplog.at_level(logging.WARNING, "adapters.discord_app.answers"):
        small = gateway.command("papers", "export", {"format": "bibtex"}, upload_limit=100)
        data = callback(await gateway.api.answers(small))["data"]

    assert data["flags"] & EPHEMERAL
    assert "more than Discord takes here" in descriptions(data)
    assert "`paperboy export` on the command line" in descriptions(data)
    assert "Not uploading paperboy-team-papers-2026-11-26.bib" in caplog.text


async def test_a_slow_export_is_deferred_then_the_file_follows(
    bot: Paperboy, gateway: Gateway, connect: Callable[..., Any]
) -> None:
    await _answer(gateway, "vote", {"paper": "0001.00001"})
    gateway.client = await connect(bot, answer_within=0.0)  # every answer is deferred

    asked = gateway.command("papers", "export", {"format": "csv"})
    deferred, edit = await gateway.api.answers(asked, count=2)

    assert deferred.body == {"type": 5}  # "thinking…" for the channel: the file is public
    assert (edit.method, edit.path.rsplit("/", 1)[-1]) == ("PATCH", "@original")
    (upload,) = edit.files
    assert upload.filename == "paperboy-team-papers-2026-11-26.csv"
    assert upload.data.decode().startswith("id,title,authors,published,votes,url")


async def test_save_buttons_keep_working_after_a_restart(
    bot: Paperboy, gateway: Gateway, connect: Callable[..., Any], store: Store
) -> None:
    listed = await _answer(gateway, "trending", {"span": "week"})
    assert gateway.client is not None
    await gateway.client.close()

    gateway.client = await connect(bot)  # a new process: it knows nothing of the old message
    third = next(b for b in buttons(listed) if b["label"] == "#3 🔖")
    answer = callback(await gateway.api.answers(gateway.click(third["custom_id"], on=listed)))

    assert answer["data"]["flags"] & EPHEMERAL
    assert descriptions(answer["data"]).startswith("Saved “")
    saved = await store.reading_list(CHANNEL, str(ADA))
    assert [s.paper_id for s in saved] == [third["custom_id"].removeprefix("paperboy:save:")]
