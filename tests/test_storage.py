from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.database import SqliteDatabase
from bot.models import ChannelRef
from bot.records import DigestClaim, DigestOutcome, SlackInstallation
from bot.scheduling import ChannelSchedule
from bot.storage import StorageError, Store, migrations
from tests.papers import NOW, paper, seed_papers

TEAM_A = ChannelRef("slack", "T-A", "C1")
TEAM_B = ChannelRef("slack", "T-B", "C1")


@pytest.mark.sqlite_only
async def test_new_database_uses_wal_foreign_keys_and_latest_schema(store: Store) -> None:
    assert isinstance(store.database, SqliteDatabase)
    assert await store.database.pragma("journal_mode") == "wal"
    assert await store.database.pragma("foreign_keys") == 1
    assert await store.schema_version() == migrations()[-1][0]


async def test_database_from_first_version_upgrades_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first_version, first_sql = migrations()[0]
    with sqlite3.connect(path) as db:
        db.executescript(first_sql)
        db.execute(f"PRAGMA user_version = {first_version}")
        db.execute(
            "INSERT INTO papers (id, title, abstract, authors, published, first_seen, change_seq) "
            "VALUES ('0001.00001', 'Kept', 'Abstract', '[]', '2026-01-01T00:00:00+00:00', "
            "'2026-01-01T00:00:00+00:00', 1)"
        )
    store = await Store.open(path)
    try:
        assert await store.schema_version() == migrations()[-1][0]
        kept = await store.get_paper("0001.00001")
        assert kept is not None and kept.title == "Kept"
    finally:
        await store.close()


async def test_database_from_newer_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE future_things (x)")
        db.execute("PRAGMA user_version = 999")
    before = path.read_bytes()
    with pytest.raises(StorageError, match="newer Paperboy"):
        await Store.open(path)
    assert path.read_bytes() == before


async def test_reingesting_updates_in_place_and_never_duplicates(store: Store) -> None:
    original = paper(1)
    first = await store.upsert_papers([original], now=NOW)
    again = await store.upsert_papers([original], now=NOW)
    newer = dataclasses.replace(original, version=3, title="Streaming LLMs v3", hf_upvotes=500)
    updated = await store.upsert_papers([newer], now=NOW)
    stale = dataclasses.replace(
        original,
        version=2,
        title="An older title",
        on_hf=False,
        hf_upvotes=0,
        sources=frozenset({"arxiv"}),
    )
    await store.upsert_papers([stale], now=NOW)

    assert (first.inserted, again.inserted, again.updated, updated.updated) == (1, 0, 0, 1)
    stored = await store.get_paper(original.id)
    assert stored is not None
    assert stored.version == 3
    assert stored.title == "Streaming LLMs v3"  # an older version never overwrites a newer one
    assert stored.hf_upvotes == 500  # an arXiv record does not reset Hugging Face upvotes
    assert stored.sources == {"hf", "arxiv"}
    assert await store.count_papers() == 1


async def test_every_change_moves_the_change_sequence_for_the_index(store: Store) -> None:
    await store.upsert_papers(seed_papers(), now=NOW)
    seq = await store.last_change_seq()
    await store.upsert_papers([paper(2, hf_upvotes=99)], now=NOW)
    changed = await store.papers_changed_after(seq)
    assert [p.id for _, p in changed] == [paper(2).id]


async def test_two_hundred_concurrent_votes_end_with_the_exact_count(store: Store) -> None:
    await store.upsert_papers([paper(1)], now=NOW)
    results = await asyncio.gather(
        *(store.toggle_vote(TEAM_A, f"U{n}", paper(1).id) for n in range(200))
    )
    assert all(voted for voted, _ in results)
    assert (await store.vote_counts(TEAM_A, [paper(1).id])) == {paper(1).id: 200}


async def test_voting_twice_takes_the_vote_back(store: Store) -> None:
    await store.upsert_papers([paper(1)], now=NOW)
    assert await store.toggle_vote(TEAM_A, "U1", paper(1).id) == (True, 1)
    assert await store.toggle_vote(TEAM_A, "U1", paper(1).id) == (False, 0)


async def test_workspaces_never_see_each_others_votes_topics_or_shares(store: Store) -> None:
    await store.upsert_papers([paper(1)], now=NOW)
    await store.toggle_vote(TEAM_A, "U1", paper(1).id)
    await store.add_subscription(TEAM_A, "attention sinks", "U1")
    await store.add_share(TEAM_A, "U1", paper(1).id, "worth a read", now=NOW)

    assert await store.vote_counts(TEAM_B, [paper(1).id]) == {}
    assert await store.subscriptions(TEAM_B) == []
    assert await store.shares_since(TEAM_B, NOW.replace(year=2000)) == []
    assert len(await store.shares_since(TEAM_A, NOW.replace(year=2000))) == 1


@pytest.mark.sqlite_only
async def test_backup_is_a_consistent_copy_while_the_store_is_open(
    store: Store, tmp_path: Path
) -> None:
    await store.upsert_papers(seed_papers(), now=NOW)
    target = tmp_path / "backup.db"
    await store.backup(target)
    copy = await Store.open(target)
    try:
        assert await copy.count_papers() == len(seed_papers())
    finally:
        await copy.close()
    with pytest.raises(StorageError, match="already exists"):
        await store.backup(target)


async def test_a_failed_transaction_changes_nothing(store: Store) -> None:
    await store.upsert_papers([paper(1)], now=NOW)

    async def delete_then_fail() -> None:
        async with store.transaction() as db:
            await db.execute("DELETE FROM papers")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await delete_then_fail()
    assert await store.count_papers() == 1


async def test_at_the_same_version_arxivs_record_wins_over_hugging_faces(store: Store) -> None:
    hf = paper(1, title="HF spelling", authors=("A. Author",))
    arxiv = paper(1, title="arXiv spelling", authors=("Alice Author", "Bob Author"),
                  on_hf=False, hf_upvotes=0, sources=frozenset({"arxiv"}))  # fmt: skip
    await store.upsert_papers([hf], now=NOW)
    await store.upsert_papers([arxiv], now=NOW)
    again = await store.upsert_papers([paper(1, title="HF spelling", hf_upvotes=7)], now=NOW)
    stored = await store.get_paper(hf.id)
    assert stored is not None
    assert (stored.title, stored.authors) == ("arXiv spelling", ("Alice Author", "Bob Author"))
    assert stored.hf_upvotes == 7 and again.updated == 1


async def test_a_schedule_comes_back_as_typed_settings_and_off_keeps_the_time(
    store: Store,
) -> None:
    assert await store.channel_settings(TEAM_A) is None
    berlin = ChannelSchedule(time(7, 30), "Europe/Berlin", "daily")
    await store.update_digests(TEAM_A, schedule=berlin, top_n=3, quiet_notice=False, now=NOW)
    settings = await store.channel_settings(TEAM_A)
    assert settings is not None
    assert (settings.ref, settings.schedule, settings.schedule_set) == (TEAM_A, berlin, True)
    assert (settings.top_n, settings.quiet_notice, settings.created_at) == (3, False, NOW)

    await store.update_digests(TEAM_A, schedule=ChannelSchedule(time(9, 0), "UTC", "off"))
    off = await store.channel_settings(TEAM_A)
    assert off is not None
    assert off.schedule == ChannelSchedule(time(7, 30), "Europe/Berlin", "off")
    assert off.top_n == 3  # untouched


async def test_scheduling_again_resumes_a_paused_channel(store: Store) -> None:
    channel_id = await store.channel_id(TEAM_A, now=NOW)
    assert await store.record_delivery_failure(channel_id, "not_in_channel", pause_after=1)
    paused = await store.channel_settings(TEAM_A)
    assert paused is not None and (paused.paused_reason, paused.failures) == ("not_in_channel", 1)

    await store.update_digests(TEAM_A, top_n=2)
    still = await store.channel_settings(TEAM_A)
    assert still is not None and still.paused_reason == "not_in_channel"

    await store.update_digests(TEAM_A, schedule=ChannelSchedule(time(8, 0), "UTC", "weekdays"))
    resumed = await store.channel_settings(TEAM_A)
    assert resumed is not None and (resumed.paused_reason, resumed.failures) == (None, 0)


async def test_a_source_that_failed_after_its_last_success_is_down(store: Store) -> None:
    await store.record_fetch("hf", papers=40, now=NOW)
    await store.record_fetch("arxiv", papers=7, now=NOW)
    await store.record_fetch("arxiv", error="HTTP 503", now=NOW + timedelta(hours=1))
    arxiv, hf = await store.source_status()
    assert (arxiv.source, arxiv.is_down, arxiv.last_error) == ("arxiv", True, "HTTP 503")
    assert (arxiv.papers_seen, arxiv.last_success) == (7, NOW)
    assert (hf.source, hf.is_down, hf.last_error_at) == ("hf", False, None)


async def test_slack_installations_round_trip_and_keep_the_installer(store: Store) -> None:
    first = SlackInstallation(
        enterprise_id="", team_id="T1", bot_token="xoxb-secret", bot_id="B1",
        bot_user_id="U0BOT", installed_at=1000.0, team_name="Team One",
        bot_scopes=("commands", "chat:write"), installer_user_id="U1",
    )  # fmt: skip
    await store.save_slack_installation(first)
    # A token refresh saves the bot without an installer: the installer stays.
    refreshed = dataclasses.replace(
        first, bot_token="xoxb-new", installed_at=2000.0, installer_user_id=None
    )
    await store.save_slack_installation(refreshed)

    found = await store.slack_installation("", "T1")
    assert found == dataclasses.replace(refreshed, installer_user_id="U1")
    assert await store.latest_slack_installation("T1") == found
    assert "xoxb" not in repr(found)
    assert await store.delete_slack_installation("", "T1") == 1
    assert await store.slack_installation("", "T1") is None


async def test_an_oauth_state_is_good_once_and_only_until_it_expires(store: Store) -> None:
    await store.add_oauth_state("fresh", expires_at=1600.0, now=1000.0)
    await store.add_oauth_state("stale", expires_at=1100.0, now=1000.0)
    assert await store.consume_oauth_state("fresh", now=1200.0)
    assert not await store.consume_oauth_state("fresh", now=1200.0)
    assert not await store.consume_oauth_state("stale", now=1200.0)


async def test_a_batch_of_digest_outcomes_is_recorded_each_as_it_ended(store: Store) -> None:
    papers = seed_papers()
    await store.upsert_papers(papers, NOW)
    channels = [ChannelRef("slack", "T-A", f"C{n}") for n in range(3)]
    ids = [await store.channel_id(ref, NOW) for ref in channels]
    claims = [DigestClaim(channel_id, "daily", "2026-11-26") for channel_id in ids]
    assert await store.queue_digests(claims, NOW) == 3
    assert await store.queue_digests(claims, NOW) == 0  # queued once, whoever scans
    held = await store.claim_digests(["slack"], "w1", NOW, NOW + timedelta(minutes=1), 10)
    assert [h.claim for h in held] == claims
    posted = (papers[0].id, papers[1].id)
    await store.finish_digests(
        [
            DigestOutcome(claims[0], "done", None, posted),
            DigestOutcome(claims[1], "failed", "channel_not_found"),
            DigestOutcome(claims[2], "done", "quiet"),
        ],
        NOW,
    )
    # Finished claims are never handed out again, not even after their lease would have run out.
    later = NOW + timedelta(hours=1)
    assert await store.claim_digests(["slack"], "w2", later, later, 10) == []
    assert set(await store.last_digests("daily")) == {ids[0], ids[2]}
    sent = await store.posted_by_channel("daily", [p.id for p in papers])
    assert sent == {channels[0]: set(posted)}
