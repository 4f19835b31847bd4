"""Replies under a posted paper are counted; the weekly digest names the most discussed one."""

from __future__ import annotations

from datetime import timedelta

from bot.commands import Paperboy
from bot.digests import weekly_digest
from bot.models import ChannelRef
from bot.replies import PaperList
from bot.storage import Store
from tests.conftest import GENERAL
from tests.papers import NOW, paper

OTHER_TEAM = ChannelRef("console", "team-b", "general")


async def test_replies_count_by_paper_or_by_the_message_they_answer(bot: Paperboy) -> None:
    store = bot.store
    await store.remember_message(GENERAL, "1700000000.000100", paper(2).id, now=NOW)
    assert await store.record_reply(GENERAL, "bob", message_key="1700000000.000100") == (
        paper(2).id
    )
    assert await store.record_reply(GENERAL, "carol", paper_id=paper(2).id) == paper(2).id
    assert await store.record_reply(GENERAL, "bob", paper_id=paper(3).id) == paper(3).id
    assert await store.most_discussed(GENERAL, NOW - timedelta(days=7), limit=5) == [
        (paper(2).id, 2),
        (paper(3).id, 1),
    ]


async def test_unknown_messages_redeliveries_and_unknown_papers_are_not_counted(
    store: Store, bot: Paperboy
) -> None:
    assert await store.record_reply(GENERAL, "bob", message_key="no-such-message") is None
    assert await store.record_reply(GENERAL, "bob", paper_id="2401.99999") is None
    first = await store.record_reply(GENERAL, "bob", paper_id=paper(1).id, reply_key="m1")
    again = await store.record_reply(GENERAL, "bob", paper_id=paper(1).id, reply_key="m1")
    assert (first, again) == (paper(1).id, None)
    assert await store.most_discussed(GENERAL, NOW - timedelta(days=7)) == [(paper(1).id, 1)]


async def test_workspaces_and_old_replies_stay_out_of_the_count(bot: Paperboy) -> None:
    store = bot.store
    await store.record_reply(OTHER_TEAM, "x", paper_id=paper(1).id, now=NOW)
    await store.record_reply(GENERAL, "y", paper_id=paper(4).id, now=NOW - timedelta(days=9))
    assert await store.most_discussed(GENERAL, NOW - timedelta(days=7)) == []


async def test_weekly_digest_names_the_most_discussed_paper(bot: Paperboy) -> None:
    await bot.store.toggle_vote(GENERAL, "alice", paper(1).id, now=NOW)
    for user in ("bob", "carol", "dan"):
        await bot.store.record_reply(GENERAL, user, paper_id=paper(5).id, now=NOW)
    await bot.store.record_reply(GENERAL, "bob", paper_id=paper(1).id, now=NOW)
    digest = await weekly_digest(bot.store, GENERAL, NOW)
    assert isinstance(digest.reply, PaperList)
    assert digest.reply.intro == (
        f"Most discussed: “{paper(5).title}” `{paper(5).id}` (3 replies)",
    )


async def test_a_quiet_week_has_no_most_discussed_line(bot: Paperboy) -> None:
    await bot.store.toggle_vote(GENERAL, "alice", paper(1).id, now=NOW)
    digest = await weekly_digest(bot.store, GENERAL, NOW)
    assert isinstance(digest.reply, PaperList) and digest.reply.intro == ()
