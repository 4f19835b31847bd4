"""`paperboy db copy --to postgresql://…`: a SQLite install moves up whole, and twice is once."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from bot.models import ChannelRef
from bot.records import DigestClaim, DigestOutcome, SlackInstallation
from bot.storage import Store
from tests.papers import NOW, seed_papers
from tests.test_cli import paperboy

GENERAL = ChannelRef("slack", "T1", "C1")


async def _a_used_install(path: Path) -> None:
    store = await Store.open(path)
    try:
        await store.upsert_papers(seed_papers(), now=NOW)
        first, second = (paper.id for paper in seed_papers()[:2])
        await store.add_subscription(GENERAL, "diffusion", "alice", now=NOW)
        await store.toggle_vote(GENERAL, "alice", first, now=NOW)
        await store.toggle_vote(GENERAL, "bob", first, now=NOW)
        await store.add_share(GENERAL, "bob", second, "worth a read", now=NOW)
        claim = DigestClaim(await store.channel_id(GENERAL), "daily", "2026-11-26")
        await store.queue_digests([claim], NOW)
        await store.claim_digests(["slack"], "w1", NOW, NOW + timedelta(minutes=5), limit=10)
        await store.finish_digests([DigestOutcome(claim, "done", None, (first, second))], NOW)
        await store.record_fetch("hf", papers=8, now=NOW)
        await store.save_slack_installation(
            SlackInstallation("", "T1", "xoxb-secret-token", "B1", "U0BOT", NOW.timestamp())
        )
        await store.save_paper(GENERAL, "alice", second, now=NOW)
        await store.claim_presentation(
            GENERAL, first, "carol", date(2026, 12, 1), today=NOW.date(), now=NOW
        )
        await store.remember_message(GENERAL, "1700000000.000100", first, now=NOW)
        await store.record_reply(GENERAL, "dave", message_key="1700000000.000100", reply_key="r1")
    finally:
        await store.close()


async def test_copy_moves_everything_and_a_second_run_changes_nothing(
    tmp_path: Path, pg_database: str
) -> None:
    await _a_used_install(tmp_path / "paperboy.db")
    env = {"DATABASE_URL": ""}

    first = paperboy("db", "copy", "--to", pg_database, env_dir=tmp_path, extra_env=env)
    second = paperboy("db", "copy", "--to", pg_database, env_dir=tmp_path, extra_env=env)

    assert first.returncode == 0, first.stderr
    assert "papers: 8 rows, 8 copied, 0 already there" in first.stdout
    assert "votes: 2 rows, 2 copied, 0 already there" in first.stdout
    assert "discussion_replies: 1 rows, 1 copied, 0 already there" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "papers: 8 rows, 0 copied, 8 already there" in second.stdout
    assert "Copied 0 rows" in second.stdout
    assert "xoxb-secret-token" not in first.stdout + first.stderr

    copied = await Store.open(pg_database)
    try:
        first_id, second_id = (paper.id for paper in seed_papers()[:2])
        assert await copied.count_papers() == 8
        original = await Store.open(tmp_path / "paperboy.db")
        try:
            assert await copied.get_papers([first_id, second_id]) == await original.get_papers(
                [first_id, second_id]
            )
        finally:
            await original.close()
        assert [s.query for s in await copied.subscriptions(GENERAL)] == ["diffusion"]
        assert await copied.vote_counts(GENERAL, [first_id]) == {first_id: 2}
        assert [s.comment for s in await copied.shares_since(GENERAL, NOW)] == ["worth a read"]
        assert await copied.posted_by_channel("daily", [first_id, second_id]) == {
            GENERAL: {first_id, second_id}
        }
        assert [p.paper_id for p in await copied.reading_list(GENERAL, "alice")] == [second_id]
        claim = await copied.club_claim(GENERAL, first_id)
        assert claim is not None and claim.presenter == "carol"
        assert await copied.most_discussed(GENERAL, NOW - timedelta(days=1)) == [(first_id, 1)]
        installation = await copied.slack_installation("", "T1")
        assert installation is not None and installation.bot_token == "xoxb-secret-token"
        # New rows after the copy get ids past the copied ones.
        assert await copied.channel_id(ChannelRef("slack", "T1", "C2")) == 2
    finally:
        await copied.close()
