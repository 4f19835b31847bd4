"""The store: Paperboy's records in SQLite (one file, the default) or PostgreSQL (many workers).

One class for both: its SQL is written once in the syntax both engines share, and a driver
(bot/database.py, bot/postgres.py) carries it to the database. Every write that matters is one
transaction.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.database import (
    Array,
    Database,
    Row,
    StorageError,
    Transaction,
    is_postgres_url,
    migrations,
    open_database,
    to_iso,
)
from bot.models import ChannelRef, ClubClaim, Paper, SavedPaper, Share, Subscription
from bot.records import (
    ChannelChanges,
    ChannelSettings,
    ClaimedDigest,
    DigestClaim,
    DigestOutcome,
    SlackInstallation,
    SourceStatus,
    WorkspaceSettings,
)
from bot.scheduling import ChannelSchedule

__all__ = ["StorageError", "Store", "UpsertReport", "migrations", "to_iso", "utc_now"]

log = logging.getLogger(__name__)

SOURCE_BITS = {"hf": 1, "arxiv": 2, "sample": 4, "share": 8}
_PAPER_COLUMNS = (
    "id, version, title, abstract, authors, categories, published, hf_upvotes, on_hf, "
    "code_url, sources, first_seen, ai_summary, github_stars"
)


@dataclass(frozen=True, slots=True)
class UpsertReport:
    received: int
    inserted: int
    updated: int


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    # What to_iso wrote is UTC already; converting anyway costs a third of a digest run's reads.
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _instant(value: datetime | str) -> datetime:
    """A stored instant: SQLite keeps ISO text, PostgreSQL hands back a datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return from_iso(value)


def _maybe_instant(value: datetime | str | None) -> datetime | None:
    return _instant(value) if value else None


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _clock(value: time | str) -> time:
    if isinstance(value, time):
        return value
    hour, minute = (int(part) for part in value.split(":")[:2])
    return time(hour, minute)


def _names(value: list[str] | str) -> tuple[str, ...]:
    """A stored JSON list: text in SQLite, already decoded from jsonb in PostgreSQL."""
    return tuple(json.loads(value) if isinstance(value, str) else value)


class Store:
    """Async access to Paperboy's records. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, db: Database, location: Path | str) -> None:
        self._db = db
        self.location = location  # what :meth:`open` takes to open this database again

    @classmethod
    async def open(cls, location: Path | str) -> Store:
        """A ``postgresql://`` URL opens PostgreSQL; anything else is a SQLite file's path."""
        if not is_postgres_url(location):
            location = Path(location)
        return cls(await open_database(location), location)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.dialect

    @property
    def database(self) -> Database:
        """The driver underneath, for maintenance that is not about records (db copy)."""
        return self._db

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Statements (``?`` placeholders, SQL both engines share) that commit together."""
        async with self._db.transaction() as tx:
            yield tx

    async def wait_for_change(self, wait_s: float) -> bool:
        """Wait until another process may have written papers (PostgreSQL tells), or
        ``wait_s`` seconds. Either way the caller then reads the change feed."""
        return await self._db.wait_for_change(wait_s)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._db.fetchall(sql, params)

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await self._db.fetchone(sql, params)

    # -- papers ---------------------------------------------------------------------------

    async def upsert_papers(
        self, papers: Iterable[Paper], now: datetime | None = None
    ) -> UpsertReport:
        """Insert new papers and update known ones in place (newer version, upvotes, links)."""
        seen = now or utc_now()
        rows = {paper.id: paper for paper in papers}
        if not rows:
            return UpsertReport(0, 0, 0)
        async with self.transaction() as db:
            # PostgreSQL's triggers replace this number with one from its change feed.
            seq = await _next_change_seq(db)
            known = await _existing_ids(db, list(rows))
            rows_changed = [_paper_row(p, seen, seq) for p in rows.values()]
            changed = await db.execute_many(_UPSERT_SQL, rows_changed)
        inserted = len(rows) - len(known)
        return UpsertReport(len(rows), inserted, changed - inserted)

    async def get_paper(self, paper_id: str) -> Paper | None:
        row = await self._fetchone(f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id = ?", (paper_id,))
        return _paper(row) if row else None

    async def get_papers(self, paper_ids: Sequence[str]) -> dict[str, Paper]:
        found: dict[str, Paper] = {}
        for chunk in _chunks(list(paper_ids), 500):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id IN ({marks})"
            for row in await self._fetchall(sql, chunk):
                found[row["id"]] = _paper(row)
        return found

    async def papers_with_votes(
        self, ref: ChannelRef, paper_ids: Sequence[str]
    ) -> dict[str, tuple[Paper, int]]:
        """Papers by id with this team's votes on each: what a page of cards needs, read in one
        query (one trip to the database, where ``get_papers`` and ``vote_counts`` take two)."""
        found: dict[str, tuple[Paper, int]] = {}
        for chunk in _chunks(list(paper_ids), 500):
            marks = ",".join("?" * len(chunk))
            sql = (
                f"SELECT {_PAPER_COLUMNS}, (SELECT COUNT(*) FROM votes v WHERE v.platform = ? "
                "AND v.workspace = ? AND v.paper_id = papers.id) AS team_votes "
                f"FROM papers WHERE id IN ({marks})"
            )
            for row in await self._fetchall(sql, (ref.platform, ref.workspace, *chunk)):
                found[row["id"]] = (_paper(row), int(row["team_votes"]))
        return found

    async def count_papers(self) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM papers")
        return int(row[0]) if row else 0

    async def last_change_seq(self) -> int:
        row = await self._fetchone("SELECT COALESCE(MAX(change_seq), 0) FROM papers")
        return int(row[0]) if row else 0

    async def papers_changed_after(self, seq: int, limit: int = 5000) -> list[tuple[int, Paper]]:
        """Papers whose change sequence is above ``seq``, oldest change first (index catch-up)."""
        # In change order only: ordering each change's papers by id too made SQLite sort whole
        # rows in a temporary B-tree (4x the read's time). Callers keep whole changes only, so
        # the order within one change does not matter.
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS}, change_seq FROM papers WHERE change_seq > ? "
            "ORDER BY change_seq LIMIT ?",
            (seq, limit),
        )
        return [(int(row[_CHANGE_SEQ]), _paper(row)) for row in rows]

    async def papers_published_since(self, since: datetime, limit: int = 10000) -> list[Paper]:
        """Papers published or first seen since ``since``, newest first."""
        # A UNION of two index searches: an OR would scan the whole table on a large store.
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id IN ("
            "SELECT id FROM papers WHERE published >= ? "
            "UNION SELECT id FROM papers WHERE first_seen >= ?) "
            "ORDER BY published DESC LIMIT ?",
            (since, since, limit),
        )
        return [_paper(row) for row in rows]

    # -- channels -------------------------------------------------------------------------

    async def channel_id(self, ref: ChannelRef, now: datetime | None = None) -> int:
        """The row id of a channel, creating the row the first time the channel is seen."""
        row = await self._fetchone(
            "SELECT id FROM channels WHERE platform = ? AND workspace = ? AND channel = ?",
            (ref.platform, ref.workspace, ref.channel),
        )
        if row:
            return int(row[0])
        await self._db.execute(
            "INSERT INTO channels (platform, workspace, channel, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (ref.platform, ref.workspace, ref.channel, now or utc_now()),
        )
        return await self.channel_id(ref)

    async def channel_settings(self, ref: ChannelRef) -> ChannelSettings | None:
        """The channel's digest settings, or None for a channel the bot has not seen."""
        row = await self._fetchone(
            "SELECT * FROM channels WHERE platform = ? AND workspace = ? AND channel = ?",
            (ref.platform, ref.workspace, ref.channel),
        )
        return _channel_settings(row) if row else None

    async def update_digests(
        self,
        ref: ChannelRef,
        *,
        schedule: ChannelSchedule | None = None,
        top_n: int | None = None,
        quiet_notice: bool | None = None,
        now: datetime | None = None,
    ) -> None:
        """Change how a channel gets digests (``/papers schedule``); None keeps a setting.

        A schedule marks the channel as scheduled by hand. One that is on also resumes a paused
        channel; one that is off keeps the time and timezone it had.
        """
        values: dict[str, object] = {}
        if schedule is not None:
            values.update(digest_days=schedule.days, schedule_set=True)
            if schedule.days != "off":
                values.update(
                    digest_time=schedule.at.replace(second=0, microsecond=0),
                    timezone=schedule.timezone,
                    weekly_day=schedule.weekly_day,
                    paused_reason=None,
                    failures=0,
                )
        if top_n is not None:
            values["top_n"] = top_n
        if quiet_notice is not None:
            values["quiet_notice"] = quiet_notice
        channel_id = await self.channel_id(ref, now)
        if not values:
            return
        assignments = ", ".join(f"{name} = ?" for name in values)
        await self._db.execute(
            f"UPDATE channels SET {assignments} WHERE id = ?", (*values.values(), channel_id)
        )

    # -- subscriptions --------------------------------------------------------------------

    async def add_subscription(
        self, ref: ChannelRef, query: str, user: str, now: datetime | None = None
    ) -> tuple[Subscription, bool]:
        """Save a topic on a channel. Returns the subscription and whether it is new."""
        channel_id = await self.channel_id(ref, now)
        created = (
            await self._db.execute(
                "INSERT INTO subscriptions (channel_id, query, created_by, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (channel_id, query, user, now or utc_now()),
            )
            == 1
        )
        subs = await self.subscriptions(ref)
        return next(s for s in subs if s.query == query), created

    async def subscriptions(self, ref: ChannelRef) -> list[Subscription]:
        rows = await self._fetchall(
            "SELECT s.* FROM subscriptions s JOIN channels c ON c.id = s.channel_id "
            "WHERE c.platform = ? AND c.workspace = ? AND c.channel = ? ORDER BY s.id",
            (ref.platform, ref.workspace, ref.channel),
        )
        return [_subscription(row, ref) for row in rows]

    async def all_subscriptions(self) -> list[Subscription]:
        rows = await self._fetchall(
            "SELECT s.*, c.platform, c.workspace, c.channel FROM subscriptions s "
            "JOIN channels c ON c.id = s.channel_id ORDER BY s.id"
        )
        return [
            _subscription(row, ChannelRef(row["platform"], row["workspace"], row["channel"]))
            for row in rows
        ]

    async def topics_by_channel(self) -> dict[int, list[str]]:
        """Every channel's topics (query text) by channel id, oldest first: what planning many
        digests needs, without a record per subscription."""
        rows = await self._fetchall("SELECT channel_id, query FROM subscriptions ORDER BY id")
        found: dict[int, list[str]] = {}
        for row in rows:
            found.setdefault(int(row[0]), []).append(str(row[1]))
        return found

    async def remove_subscription(self, subscription: Subscription) -> bool:
        return (
            await self._db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription.id,))
            == 1
        )

    # -- votes ----------------------------------------------------------------------------

    async def toggle_vote(
        self, ref: ChannelRef, user: str, paper_id: str, now: datetime | None = None
    ) -> tuple[bool, int]:
        """Add the user's vote, or take it back if it is there. Returns (voted, team count)."""
        key = (ref.platform, ref.workspace, paper_id, user)
        async with self.transaction() as db:
            voted = (
                await db.execute(
                    "INSERT INTO votes (platform, workspace, paper_id, user_id, voted_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (*key, now or utc_now()),
                )
                == 1
            )
            if not voted:
                await db.execute(
                    "DELETE FROM votes WHERE platform = ? AND workspace = ? AND paper_id = ? "
                    "AND user_id = ?",
                    key,
                )
        counts = await self.vote_counts(ref, [paper_id])
        return voted, counts.get(paper_id, 0)

    async def vote_counts(self, ref: ChannelRef, paper_ids: Sequence[str]) -> dict[str, int]:
        """Team votes (this platform and workspace) for each paper that has any."""
        counts: dict[str, int] = {}
        for chunk in _chunks(list(paper_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = await self._fetchall(
                "SELECT paper_id, COUNT(*) FROM votes WHERE platform = ? AND workspace = ? "
                f"AND paper_id IN ({marks}) GROUP BY paper_id",
                (ref.platform, ref.workspace, *chunk),
            )
            counts.update({row[0]: int(row[1]) for row in rows})
        return counts

    async def top_voted(
        self, ref: ChannelRef, since: datetime, limit: int = 10
    ) -> list[tuple[str, int]]:
        """The workspace's most voted papers among votes cast since ``since``."""
        rows = await self._fetchall(
            "SELECT paper_id, COUNT(*) AS n, MAX(voted_at) AS latest FROM votes "
            "WHERE platform = ? AND workspace = ? AND voted_at >= ? "
            "GROUP BY paper_id ORDER BY n DESC, latest DESC LIMIT ?",
            (ref.platform, ref.workspace, since, limit),
        )
        return [(row[0], int(row[1])) for row in rows]

    # -- shares ---------------------------------------------------------------------------

    async def add_share(
        self,
        ref: ChannelRef,
        user: str,
        paper_id: str,
        comment: str | None,
        now: datetime | None = None,
    ) -> None:
        channel_id = await self.channel_id(ref, now)
        await self._db.execute(
            "INSERT INTO shares (channel_id, user_id, paper_id, comment, shared_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (channel_id, user, paper_id, comment, now or utc_now()),
        )

    async def shares_since(self, ref: ChannelRef, since: datetime) -> list[Share]:
        """Shares anywhere in the channel's workspace since ``since``, oldest first."""
        rows = await self._fetchall(
            "SELECT s.*, c.channel FROM shares s JOIN channels c ON c.id = s.channel_id "
            "WHERE c.platform = ? AND c.workspace = ? AND s.shared_at >= ? ORDER BY s.id",
            (ref.platform, ref.workspace, since),
        )
        return [
            Share(
                paper_id=row["paper_id"],
                user=row["user_id"],
                channel=ChannelRef(ref.platform, ref.workspace, row["channel"]),
                comment=row["comment"],
                shared_at=_instant(row["shared_at"]),
            )
            for row in rows
        ]

    # -- posts ----------------------------------------------------------------------------

    async def posted_by_channel(
        self, kind: str, paper_ids: Sequence[str]
    ) -> dict[ChannelRef, set[str]]:
        """For each channel, which of ``paper_ids`` it was already sent (one query per 500 ids)."""
        found: dict[ChannelRef, set[str]] = {}
        for chunk in _chunks(list(paper_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = await self._fetchall(
                "SELECT c.platform, c.workspace, c.channel, p.paper_id FROM posts p "
                "JOIN channels c ON c.id = p.channel_id "
                f"WHERE p.kind = ? AND p.paper_id IN ({marks})",
                (kind, *chunk),
            )
            for row in rows:
                ref = ChannelRef(row[0], row[1], row[2])
                found.setdefault(ref, set()).add(row[3])
        return found

    async def votes_by_workspace(self, since: datetime) -> dict[tuple[str, str], dict[str, int]]:
        """Team votes cast since ``since``, per (platform, workspace) and paper."""
        rows = await self._fetchall(
            "SELECT platform, workspace, paper_id, COUNT(*) FROM votes WHERE voted_at >= ? "
            "GROUP BY platform, workspace, paper_id",
            (since,),
        )
        found: dict[tuple[str, str], dict[str, int]] = {}
        for row in rows:
            found.setdefault((row[0], row[1]), {})[row[2]] = int(row[3])
        return found

    async def teams_with_votes(self, papers: int) -> set[tuple[str, str]]:
        """The (platform, workspace) pairs that upvoted at least ``papers`` distinct papers."""
        rows = await self._fetchall(
            "SELECT platform, workspace FROM votes GROUP BY platform, workspace "
            "HAVING COUNT(DISTINCT paper_id) >= ?",
            (papers,),
        )
        return {(row[0], row[1]) for row in rows}

    async def record_posts(
        self, ref: ChannelRef, paper_ids: Iterable[str], kind: str, now: datetime | None = None
    ) -> None:
        channel_id = await self.channel_id(ref, now)
        stamp = now or utc_now()
        async with self.transaction() as db:
            await db.execute_many(
                "INSERT INTO posts (channel_id, paper_id, kind, posted_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(channel_id, paper_id, kind, stamp) for paper_id in paper_ids],
            )

    # -- digest runs (exactly once per channel and period) ---------------------------------

    async def scheduled_channels(self) -> list[ChannelSettings]:
        """Channels that get digests: not off, not paused, and subscribed or scheduled by hand."""
        rows = await self._fetchall(
            "SELECT c.* FROM channels c WHERE c.digest_days != 'off' AND c.paused_reason IS NULL "
            "AND (c.schedule_set OR EXISTS (SELECT 1 FROM subscriptions s "
            "WHERE s.channel_id = c.id)) ORDER BY c.id"
        )
        return [_channel_settings(row) for row in rows]

    async def digest_runs_claimed_since(self, since: datetime) -> set[DigestClaim]:
        """Every digest claimed since ``since``, in any state."""
        rows = await self._fetchall(
            "SELECT channel_id, kind, period FROM digest_runs WHERE claimed_at >= ?",
            (since,),
        )
        return {DigestClaim(int(row[0]), row[1], row[2]) for row in rows}

    async def last_digests(self, kind: str) -> dict[int, datetime]:
        """When each channel's last delivered digest of ``kind`` was claimed."""
        rows = await self._fetchall(
            "SELECT channel_id, MAX(claimed_at) FROM digest_runs "
            "WHERE kind = ? AND status = 'done' GROUP BY channel_id",
            (kind,),
        )
        return {int(row[0]): _instant(row[1]) for row in rows}

    async def queue_digests(self, claims: Sequence[DigestClaim], now: datetime) -> int:
        """Queue digests that fell due, for any worker to claim; known ones are left as they are.
        Returns how many were new."""
        async with self.transaction() as tx:
            if self.dialect == "postgresql":
                return await tx.execute(
                    "INSERT INTO digest_runs (channel_id, kind, period, status, claimed_at) "
                    "SELECT channel_id, kind, period, 'due', ? "
                    "FROM unnest(?::bigint[], ?::text[], ?::text[]) AS q(channel_id, kind, period) "
                    "ON CONFLICT (channel_id, kind, period) DO NOTHING",
                    (now, *_claim_arrays(claims)),
                )
            return await tx.execute_many(
                "INSERT INTO digest_runs (channel_id, kind, period, status, claimed_at) "
                "VALUES (?, ?, ?, 'due', ?) ON CONFLICT (channel_id, kind, period) DO NOTHING",
                [(c.channel_id, c.kind, c.period, now) for c in claims],
            )

    async def skip_digests(
        self, outcomes: Sequence[DigestOutcome], now: datetime
    ) -> list[DigestClaim]:
        """Record digests that will not go out (missed beyond the grace period) unless they are
        known already; returns those newly recorded, to log each once."""
        recorded = []
        async with self.transaction() as tx:
            for outcome in outcomes:
                claim = outcome.claim
                inserted = await tx.execute(
                    "INSERT INTO digest_runs (channel_id, kind, period, status, claimed_at, "
                    "finished_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (channel_id, kind, period) DO NOTHING",
                    (claim.channel_id, claim.kind, claim.period, outcome.status, now, now,
                     outcome.detail),
                )  # fmt: skip
                if inserted == 1:
                    recorded.append(claim)
        return recorded

    async def claim_digests(
        self,
        platforms: Sequence[str],
        worker: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[ClaimedDigest]:
        """Claim up to ``limit`` queued digests of ``platforms``, and any whose holder's lease ran
        out before ``now``, for ``worker`` until ``lease_until``. One statement per batch."""
        if not platforms:
            return []
        marks = ",".join("?" * len(platforms))
        # PostgreSQL: workers claiming at once take disjoint rows instead of queueing on each
        # other's locks. SQLite has one writer, so its claims never overlap in the first place.
        locking = " FOR UPDATE OF d SKIP LOCKED" if self.dialect == "postgresql" else ""
        rows = await self._write_returning(
            "UPDATE digest_runs SET status = 'claimed', claimed_by = ?, claimed_at = ?, "
            "lease_expires_at = ?, attempts = attempts + 1 "
            "WHERE (channel_id, kind, period) IN ("
            "SELECT d.channel_id, d.kind, d.period FROM digest_runs d "
            "JOIN channels c ON c.id = d.channel_id "
            # Spelled with the open-rows index's own condition, so SQLite reads that index
            # instead of walking every channel (and its claims already taken) per batch.
            "WHERE d.status IN ('due', 'claimed') AND (d.status = 'due' OR d.lease_expires_at < ?) "
            f"AND c.platform IN ({marks}) LIMIT ?{locking}) "
            "RETURNING channel_id, kind, period, attempts",
            (worker, now, lease_until, now, *platforms, limit),
        )
        claimed = [ClaimedDigest(DigestClaim(int(r[0]), r[1], r[2]), int(r[3])) for r in rows]
        return sorted(claimed, key=lambda c: (c.claim.channel_id, c.claim.kind, c.claim.period))

    async def renew_digest_leases(self, worker: str, until: datetime) -> int:
        """Extend the leases of every claim ``worker`` still holds. Returns how many."""
        return await self._db.execute(
            "UPDATE digest_runs SET lease_expires_at = ? "
            "WHERE claimed_by = ? AND status = 'claimed'",
            (until, worker),
        )

    async def finish_digests(self, outcomes: Sequence[DigestOutcome], now: datetime) -> None:
        """Mark claimed digests done (or skipped/failed) and record what they posted, all in one
        transaction: a batch is recorded whole or not at all."""
        if not outcomes:
            return
        if self.dialect == "postgresql":
            await _finish_digests_pg(self._db, outcomes, now)
            return
        async with self.transaction() as tx:
            await tx.execute_many(
                "UPDATE digest_runs SET status = ?, finished_at = ?, detail = ?, "
                "lease_expires_at = NULL WHERE channel_id = ? AND kind = ? AND period = ?",
                [(o.status, now, o.detail, o.claim.channel_id, o.claim.kind, o.claim.period)
                 for o in outcomes],
            )  # fmt: skip
            await tx.execute_many(
                "INSERT INTO posts (channel_id, paper_id, kind, posted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (channel_id, kind, paper_id) DO NOTHING",
                [(o.claim.channel_id, paper_id, o.claim.kind, now)
                 for o in outcomes for paper_id in o.posted_ids],
            )  # fmt: skip

    async def release_digest(self, claim: DigestClaim) -> None:
        """Give a claim back when the post certainly did not go out, so it is tried again."""
        await self._db.execute(
            "DELETE FROM digest_runs WHERE channel_id = ? AND kind = ? AND period = ? "
            "AND status = 'claimed'",
            (claim.channel_id, claim.kind, claim.period),
        )

    async def record_delivery_failure(self, channel_id: int, reason: str, pause_after: int) -> bool:
        """Count a permanent delivery failure; pause the channel after ``pause_after``. Paused?"""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE channels SET failures = failures + 1, paused_reason = CASE "
                "WHEN failures + 1 >= ? THEN ? ELSE paused_reason END WHERE id = ?",
                (pause_after, reason[:200], channel_id),
            )
            row = await db.fetchone(
                "SELECT paused_reason FROM channels WHERE id = ?", (channel_id,)
            )
        return bool(row and row[0])

    async def record_delivery_success(self, channel_id: int) -> None:
        await self._db.execute(
            "UPDATE channels SET failures = 0 WHERE id = ? AND failures != 0", (channel_id,)
        )

    async def pause_workspace(self, platform: str, workspace: str, reason: str) -> int:
        """Pause every schedule of a workspace (the app was uninstalled). Returns how many."""
        return await self._db.execute(
            "UPDATE channels SET paused_reason = ? WHERE platform = ? AND workspace = ? "
            "AND paused_reason IS NULL",
            (reason, platform, workspace),
        )

    async def resume_workspace(self, platform: str, workspace: str, reasons: Sequence[str]) -> int:
        """Resume a workspace's schedules paused for one of ``reasons`` (it was reinstalled)."""
        marks = ",".join("?" * len(reasons))
        return await self._db.execute(
            "UPDATE channels SET paused_reason = NULL, failures = 0 WHERE platform = ? "
            f"AND workspace = ? AND paused_reason IN ({marks})",
            (platform, workspace, *reasons),
        )

    # -- sources --------------------------------------------------------------------------

    async def record_fetch(
        self, source: str, *, error: str | None = None, papers: int = 0, now: datetime | None = None
    ) -> None:
        """Remember the outcome of a fetch, for ``status``."""
        stamp = now or utc_now()
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO source_status (source) VALUES (?) ON CONFLICT DO NOTHING", (source,)
            )
            if error is None:
                await db.execute(
                    "UPDATE source_status SET last_success = ?, papers_seen = ? WHERE source = ?",
                    (stamp, papers, source),
                )
            else:
                await db.execute(
                    "UPDATE source_status SET last_error = ?, last_error_at = ? WHERE source = ?",
                    (error[:500], stamp, source),
                )

    async def source_status(self) -> list[SourceStatus]:
        rows = await self._fetchall("SELECT * FROM source_status ORDER BY source")
        return [
            SourceStatus(
                source=row["source"],
                last_success=_maybe_instant(row["last_success"]),
                last_error=row["last_error"],
                last_error_at=_maybe_instant(row["last_error_at"]),
                papers_seen=int(row["papers_seen"]),
            )
            for row in rows
        ]

    # -- Slack installations (multi-workspace mode) ----------------------------------------

    async def save_slack_installation(self, installation: SlackInstallation) -> None:
        """Save a workspace's bot token, replacing the one it had (an installer left None keeps
        the installer saved before)."""
        await self._db.execute(_SAVE_INSTALLATION_SQL, _installation_row(installation))

    async def slack_installation(
        self, enterprise_id: str, team_id: str
    ) -> SlackInstallation | None:
        row = await self._fetchone(
            f"SELECT {_INSTALLATION_COLUMNS} FROM slack_installations "
            "WHERE enterprise_id = ? AND team_id = ?",
            (enterprise_id, team_id),
        )
        return _installation(row) if row else None

    async def latest_slack_installation(self, team_id: str) -> SlackInstallation | None:
        """The newest installation in a workspace, whatever organization it belongs to."""
        row = await self._fetchone(
            f"SELECT {_INSTALLATION_COLUMNS} FROM slack_installations WHERE team_id = ? "
            "ORDER BY installed_at DESC LIMIT 1",
            (team_id,),
        )
        return _installation(row) if row else None

    async def delete_slack_installation(self, enterprise_id: str, team_id: str) -> int:
        """Forget a workspace's bot token. Returns how many were removed (0 or 1)."""
        return await self._db.execute(
            "DELETE FROM slack_installations WHERE enterprise_id = ? AND team_id = ?",
            (enterprise_id, team_id),
        )

    async def add_oauth_state(self, state: str, expires_at: float, now: float) -> None:
        """Keep a one-time OAuth state until ``expires_at`` (unix seconds); drop expired ones."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM slack_oauth_states WHERE expires_at < ?", (now,))
            await db.execute(
                "INSERT INTO slack_oauth_states (state, expires_at) VALUES (?, ?)",
                (state, expires_at),
            )

    async def consume_oauth_state(self, state: str, now: float) -> bool:
        """Use up an OAuth state; False when it is unknown, used already or expired."""
        return (
            await self._db.execute(
                "DELETE FROM slack_oauth_states WHERE state = ? AND expires_at >= ?", (state, now)
            )
            == 1
        )

    # -- maintenance ----------------------------------------------------------------------

    async def backup(self, target: Path | str) -> None:
        """A consistent copy of the whole database, safe while the bot is running."""
        target = Path(target)
        if target.exists():
            raise StorageError(f"{target} already exists; choose a new file name")
        await self._db.backup(target)

    async def schema_version(self) -> int:
        return await self._db.schema_version()

    # == team knowledge (issue 12): reading lists, journal club, discussion ===================
    # Kept together at the end of the class so this feature's storage reads as one unit.

    # -- reading lists (per person: platform, workspace, user) --------------------------------

    async def save_paper(
        self, ref: ChannelRef, user: str, paper_id: str, now: datetime | None = None
    ) -> bool:
        """Put a paper on the person's reading list. False if it was there already."""
        return (
            await self._db.execute(
                "INSERT INTO reading_list (platform, workspace, user_id, paper_id, saved_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (ref.platform, ref.workspace, user, paper_id, now or utc_now()),
            )
            == 1
        )

    async def unsave_paper(self, ref: ChannelRef, user: str, paper_id: str) -> bool:
        """Take a paper off the person's reading list. False if it was not on it."""
        return (
            await self._db.execute(
                "DELETE FROM reading_list WHERE platform = ? AND workspace = ? AND user_id = ? "
                "AND paper_id = ?",
                (ref.platform, ref.workspace, user, paper_id),
            )
            == 1
        )

    async def mark_read(
        self, ref: ChannelRef, user: str, paper_id: str, now: datetime | None = None
    ) -> tuple[bool, bool]:
        """Mark a paper read, saving it first if needed. Returns (newly saved, already read)."""
        stamp = now or utc_now()
        key = (ref.platform, ref.workspace, user, paper_id)
        async with self.transaction() as db:
            row = await db.fetchone(
                "SELECT read_at FROM reading_list WHERE platform = ? AND workspace = ? "
                "AND user_id = ? AND paper_id = ?",
                key,
            )
            if row is None:
                await db.execute(
                    "INSERT INTO reading_list "
                    "(platform, workspace, user_id, paper_id, saved_at, read_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (*key, stamp, stamp),
                )
                return True, False
            if row[0] is None:
                await db.execute(
                    "UPDATE reading_list SET read_at = ? WHERE platform = ? AND workspace = ? "
                    "AND user_id = ? AND paper_id = ?",
                    (stamp, *key),
                )
            return False, row[0] is not None

    async def reading_list(self, ref: ChannelRef, user: str) -> list[SavedPaper]:
        """The person's saved papers: unread first, then most recently saved first."""
        rows = await self._fetchall(
            "SELECT paper_id, saved_at, read_at FROM reading_list "
            "WHERE platform = ? AND workspace = ? AND user_id = ? "
            "ORDER BY read_at IS NOT NULL, saved_at DESC, paper_id",
            (ref.platform, ref.workspace, user),
        )
        return [
            SavedPaper(
                row["paper_id"],
                _instant(row["saved_at"]),
                _maybe_instant(row["read_at"]),
            )
            for row in rows
        ]

    # -- journal club ----------------------------------------------------------------------

    async def claim_presentation(
        self,
        ref: ChannelRef,
        paper_id: str,
        presenter: str,
        present_on: date,
        *,
        today: date,
        presenter_name: str | None = None,
        now: datetime | None = None,
    ) -> tuple[ClubClaim, bool]:
        """Claim a paper to present in a channel. Returns the claim that holds and whether it
        is this one; a claim for a day before ``today`` (already presented) gives way."""
        channel_id = await self.channel_id(ref, now)
        async with self.transaction() as db:
            await db.execute(
                "DELETE FROM club_claims WHERE channel_id = ? AND paper_id = ? AND present_on < ?",
                (channel_id, paper_id, today),
            )
            created = (
                await db.execute(
                    "INSERT INTO club_claims (channel_id, paper_id, presenter, presenter_name, "
                    "present_on, claimed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (channel_id, paper_id, presenter, presenter_name, present_on, now or utc_now()),
                )
                == 1
            )
        claims = await self._club_claims("c.id = ? AND k.paper_id = ?", (channel_id, paper_id))
        return claims[0], created

    async def move_presentation(self, claim: ClubClaim, present_on: date) -> None:
        """A presenter picks another day; the reminder follows the new day."""
        await self._db.execute(
            "UPDATE club_claims SET present_on = ?, reminder_status = NULL, "
            "reminder_at = NULL WHERE id = ?",
            (present_on, claim.id),
        )

    async def cancel_presentation(self, claim: ClubClaim) -> bool:
        return await self._db.execute("DELETE FROM club_claims WHERE id = ?", (claim.id,)) == 1

    async def club_claim(self, ref: ChannelRef, paper_id: str) -> ClubClaim | None:
        claims = await self._club_claims(
            "c.platform = ? AND c.workspace = ? AND c.channel = ? AND k.paper_id = ?",
            (ref.platform, ref.workspace, ref.channel, paper_id),
        )
        return claims[0] if claims else None

    async def club_schedule(
        self, ref: ChannelRef, first: date, last: date | None = None
    ) -> list[ClubClaim]:
        """A channel's claims from ``first`` to ``last`` (inclusive), soonest first."""
        return await self._club_claims(
            "c.platform = ? AND c.workspace = ? AND c.channel = ? AND k.present_on >= ? "
            "AND k.present_on <= ?",
            (ref.platform, ref.workspace, ref.channel, first, last or date.max),
        )  # fmt: skip

    async def club_reminders_pending(
        self, first: date, last: date
    ) -> list[tuple[ClubClaim, str, str]]:
        """Claims presented between ``first`` and ``last`` whose reminder was never attempted,
        each with its channel's timezone and digest time (the reminder goes out then)."""
        rows = await self._fetchall(
            f"SELECT {_CLAIM_COLUMNS}, c.timezone, c.digest_time FROM club_claims k "
            "JOIN channels c ON c.id = k.channel_id WHERE k.reminder_status IS NULL "
            "AND k.present_on >= ? AND k.present_on <= ? ORDER BY k.present_on, k.id",
            (first, last),
        )
        return [
            (_claim(row), row["timezone"], f"{_clock(row['digest_time']):%H:%M}") for row in rows
        ]

    async def claim_reminder(self, claim_id: int, now: datetime) -> bool:
        """Take the right to send a claim's reminder; False if it was already taken."""
        return (
            await self._db.execute(
                "UPDATE club_claims SET reminder_status = 'claimed', reminder_at = ? "
                "WHERE id = ? AND reminder_status IS NULL",
                (now, claim_id),
            )
            == 1
        )

    async def finish_reminder(self, claim_id: int, status: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE club_claims SET reminder_status = ?, reminder_at = ? WHERE id = ?",
            (status, now, claim_id),
        )

    async def release_reminder(self, claim_id: int) -> None:
        """Give a reminder claim back when the message certainly did not go out."""
        await self._db.execute(
            "UPDATE club_claims SET reminder_status = NULL, reminder_at = NULL "
            "WHERE id = ? AND reminder_status = 'claimed'",
            (claim_id,),
        )

    async def _club_claims(self, where: str, params: Sequence[Any]) -> list[ClubClaim]:
        rows = await self._fetchall(
            f"SELECT {_CLAIM_COLUMNS} FROM club_claims k JOIN channels c ON c.id = k.channel_id "
            f"WHERE {where} ORDER BY k.present_on, k.id",
            params,
        )
        return [_claim(row) for row in rows]

    # -- discussion (replies under a posted paper) -----------------------------------------

    async def remember_message(
        self, ref: ChannelRef, message_key: str, paper_id: str, now: datetime | None = None
    ) -> None:
        """Note that a posted message shows one paper, so replies under it count for it."""
        await self._db.execute(
            "INSERT INTO paper_messages "
            "(platform, workspace, message_key, channel, paper_id, posted_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, workspace, message_key) DO UPDATE "
            "SET channel = excluded.channel, paper_id = excluded.paper_id, "
            "posted_at = excluded.posted_at",
            (ref.platform, ref.workspace, message_key, ref.channel, paper_id, now or utc_now()),
        )

    async def record_reply(
        self,
        ref: ChannelRef,
        user: str,
        *,
        paper_id: str | None = None,
        message_key: str | None = None,
        reply_key: str | None = None,
        now: datetime | None = None,
    ) -> str | None:
        """Count one reply about a paper, named directly or by the message replied under.

        Returns the paper counted, or None when the message shows no known paper or this
        ``reply_key`` was counted before (a platform redelivering the same event).
        """
        if paper_id is None and message_key is not None:
            row = await self._fetchone(
                "SELECT paper_id FROM paper_messages WHERE platform = ? AND workspace = ? "
                "AND message_key = ?",
                (ref.platform, ref.workspace, message_key),
            )
            paper_id = row[0] if row else None
        if paper_id is None:
            return None
        counted = await self._db.execute(
            "INSERT INTO discussion_replies "
            "(platform, workspace, channel, paper_id, user_id, reply_key, replied_at) "
            "SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM papers WHERE id = ?) "
            "ON CONFLICT DO NOTHING",
            (ref.platform, ref.workspace, ref.channel, paper_id, user, reply_key,
             now or utc_now(), paper_id),
        )  # fmt: skip
        return paper_id if counted == 1 else None

    async def most_discussed(
        self, ref: ChannelRef, since: datetime, limit: int = 1
    ) -> list[tuple[str, int]]:
        """The workspace's papers with the most replies since ``since``, most first."""
        rows = await self._fetchall(
            "SELECT paper_id, COUNT(*) AS n, MAX(replied_at) AS latest FROM discussion_replies "
            "WHERE platform = ? AND workspace = ? AND replied_at >= ? "
            "GROUP BY paper_id ORDER BY n DESC, latest DESC LIMIT ?",
            (ref.platform, ref.workspace, since, limit),
        )
        return [(row[0], int(row[1])) for row in rows]

    # == scale out (issue 11): job leases, shared request keys ================================
    # Portable SQL (SQLite >= 3.35 and PostgreSQL): ON CONFLICT ... RETURNING, no INSERT OR ...

    async def take_job_lease(
        self, job: str, holder: str, fire_time: datetime, until: datetime, min_gap: timedelta
    ) -> bool:
        """Take the right to run ``job`` for this firing; False when another process holds an
        unexpired lease, or a firing less than ``min_gap`` before this one already ran it."""
        rows = await self._write_returning(
            "INSERT INTO job_leases (job, fire_time, holder, lease_expires_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (job) DO UPDATE SET fire_time = excluded.fire_time, "
            "holder = excluded.holder, lease_expires_at = excluded.lease_expires_at "
            "WHERE job_leases.lease_expires_at < excluded.fire_time "
            "AND job_leases.fire_time <= ? RETURNING job",
            (job, fire_time, holder, until, fire_time - min_gap),
        )
        return bool(rows)

    async def renew_job_lease(self, job: str, holder: str, until: datetime) -> bool:
        """Extend a held lease; False when ``holder`` lost it (it ran out and was taken)."""
        renewed = await self._db.execute(
            "UPDATE job_leases SET lease_expires_at = ? WHERE job = ? AND holder = ?",
            (until, job, holder),
        )
        return renewed == 1

    async def release_job_lease(self, job: str, holder: str, now: datetime) -> None:
        """End a held lease now (the job finished); its fire time stays, for ``min_gap``."""
        await self._db.execute(
            "UPDATE job_leases SET lease_expires_at = ? WHERE job = ? AND holder = ?",
            (now, job, holder),
        )

    async def claim_request_key(self, key: str, now: datetime, ttl: timedelta) -> bool:
        """True for the first caller to present ``key`` (until it expires), in any process:
        a Slack retry, a repeated click or a held per-message lock gets False."""
        rows = await self._write_returning(
            "INSERT INTO request_dedupe (key, expires_at) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
            "WHERE request_dedupe.expires_at < ? RETURNING key",
            (key, now + ttl, now),
        )
        return bool(rows)

    async def release_request_key(self, key: str) -> None:
        """Let a key be claimed again at once (a per-message lock whose work is done)."""
        await self._db.execute("DELETE FROM request_dedupe WHERE key = ?", (key,))

    async def sweep_request_keys(self, now: datetime) -> int:
        """Forget expired keys. Returns how many."""
        return await self._db.execute("DELETE FROM request_dedupe WHERE expires_at < ?", (now,))

    async def _write_returning(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """One writing statement with RETURNING, in a transaction of its own."""
        async with self.transaction() as tx:
            return await tx.fetchall(sql, params)

    # -- workspace settings ----------------------------------------------------------------

    async def workspace_settings(self, platform: str, workspace: str) -> WorkspaceSettings:
        """The workspace's settings; the defaults where nobody changed them."""
        row = await self._fetchone(
            "SELECT channel_changes, updated_by, updated_at FROM workspace_settings "
            "WHERE platform = ? AND workspace = ?",
            (platform, workspace),
        )
        if row is None:
            return WorkspaceSettings(platform, workspace)
        return WorkspaceSettings(
            platform,
            workspace,
            channel_changes=_channel_changes(row["channel_changes"]),
            updated_by=row["updated_by"],
            updated_at=_instant(row["updated_at"]),
        )

    async def set_channel_changes(
        self,
        platform: str,
        workspace: str,
        allowed: ChannelChanges,
        *,
        by: str,
        now: datetime | None = None,
    ) -> bool:
        """Say who may change channels in a workspace. Returns whether the setting changed."""
        current = await self.workspace_settings(platform, workspace)
        if current.channel_changes == allowed:
            return False
        await self._db.execute(
            "INSERT INTO workspace_settings "
            "(platform, workspace, channel_changes, updated_by, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, workspace) DO UPDATE SET "
            "channel_changes = excluded.channel_changes, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at",
            (platform, workspace, allowed, by, now or utc_now()),
        )
        return True


def _channel_changes(value: str) -> ChannelChanges:
    return "admins" if value == "admins" else "everyone"


# A newer version's text wins; at the same version arXiv's own record wins over a copy (HF).
# Written in the SQL SQLite and PostgreSQL share: CASE for MAX/MIN of two values, the table's
# name on the stored row's columns, `IS DISTINCT FROM` for comparisons with NULL.
_TAKES_TEXT = (
    "(excluded.version > papers.version OR (excluded.version = papers.version "
    "AND (excluded.sources & 2) != 0))"
)
_UPSERT_SQL = f"""
INSERT INTO papers ({_PAPER_COLUMNS}, change_seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    title = CASE WHEN {_TAKES_TEXT} THEN excluded.title ELSE papers.title END,
    abstract = CASE WHEN {_TAKES_TEXT} THEN excluded.abstract ELSE papers.abstract END,
    authors = CASE WHEN {_TAKES_TEXT} THEN excluded.authors ELSE papers.authors END,
    categories = CASE WHEN excluded.categories != '[]' THEN excluded.categories
                      ELSE papers.categories END,
    version = CASE WHEN excluded.version > papers.version THEN excluded.version
                   ELSE papers.version END,
    published = CASE WHEN excluded.published < papers.published THEN excluded.published
                     ELSE papers.published END,
    hf_upvotes = CASE WHEN excluded.on_hf THEN excluded.hf_upvotes ELSE papers.hf_upvotes END,
    on_hf = (papers.on_hf OR excluded.on_hf),
    code_url = COALESCE(excluded.code_url, papers.code_url),
    sources = papers.sources | excluded.sources,
    ai_summary = COALESCE(excluded.ai_summary, papers.ai_summary),
    github_stars = COALESCE(excluded.github_stars, papers.github_stars),
    change_seq = excluded.change_seq
WHERE excluded.version > papers.version
   OR (excluded.on_hf AND excluded.hf_upvotes != papers.hf_upvotes)
   OR (excluded.sources | papers.sources) != papers.sources
   OR (excluded.code_url IS NOT NULL AND excluded.code_url IS DISTINCT FROM papers.code_url)
   OR (excluded.ai_summary IS NOT NULL
       AND excluded.ai_summary IS DISTINCT FROM papers.ai_summary)
   OR (excluded.github_stars IS NOT NULL
       AND excluded.github_stars IS DISTINCT FROM papers.github_stars)
   OR (papers.categories = '[]' AND excluded.categories != '[]')
   OR (excluded.version = papers.version AND (excluded.sources & 2) != 0
       AND (excluded.title != papers.title OR excluded.abstract != papers.abstract
            OR excluded.authors != papers.authors))
"""


def _paper_row(paper: Paper, seen: datetime, seq: int) -> tuple[Any, ...]:
    sources = 0
    for name in paper.sources:
        sources |= SOURCE_BITS.get(name, 0)
    return (
        paper.id,
        paper.version,
        paper.title,
        paper.abstract,
        list(paper.authors),
        list(paper.categories),
        paper.published,
        paper.hf_upvotes,
        paper.on_hf,
        paper.code_url,
        sources,
        paper.first_seen or seen,
        paper.ai_summary,
        paper.github_stars,
        seq,
    )


def _paper(row: Row) -> Paper:
    """A paper from a row that starts with ``_PAPER_COLUMNS``. Columns are read by position:
    sqlite3.Row looks a name up by comparing it with each column's, which cost a catch-up
    read a third of its time."""
    return Paper(
        id=row[0],
        version=int(row[1]),
        title=row[2],
        abstract=row[3],
        authors=_names(row[4]),
        categories=_categories(row[5]),
        published=_instant(row[6]),
        hf_upvotes=int(row[7]),
        on_hf=bool(row[8]),
        code_url=row[9],
        sources=_sources(int(row[10])),
        first_seen=_instant(row[11]),
        ai_summary=row[12],
        github_stars=row[13],
    )


_CHANGE_SEQ = len(_PAPER_COLUMNS.split(","))  # the position of a column selected after them


@functools.lru_cache(maxsize=64)
def _sources(bits: int) -> frozenset[str]:
    return frozenset(name for name, bit in SOURCE_BITS.items() if bits & bit)


def _categories(value: list[str] | str) -> tuple[str, ...]:
    # Few lists of categories are common; decoding each paper's again was a tenth of a read.
    return _cached_names(value) if isinstance(value, str) else tuple(value)


@functools.lru_cache(maxsize=4096)
def _cached_names(value: str) -> tuple[str, ...]:
    return _names(value)


_CLAIM_COLUMNS = (
    "k.id, k.paper_id, k.presenter, k.presenter_name, k.present_on, k.claimed_at, "
    "k.reminder_status, "
    "c.platform, c.workspace, c.channel"
)


def _claim(row: Row) -> ClubClaim:
    return ClubClaim(
        id=int(row["id"]),
        channel=ChannelRef(row["platform"], row["workspace"], row["channel"]),
        paper_id=row["paper_id"],
        presenter=row["presenter"],
        present_on=_day(row["present_on"]),
        claimed_at=_instant(row["claimed_at"]),
        reminder_status=row["reminder_status"],
        presenter_name=row["presenter_name"],
    )


def _channel_settings(row: Row) -> ChannelSettings:
    return ChannelSettings(
        id=int(row["id"]),
        ref=ChannelRef(row["platform"], row["workspace"], row["channel"]),
        schedule=ChannelSchedule(
            _clock(row["digest_time"]), row["timezone"], row["digest_days"], int(row["weekly_day"])
        ),
        schedule_set=bool(row["schedule_set"]),
        top_n=int(row["top_n"]),
        quiet_notice=bool(row["quiet_notice"]),
        paused_reason=row["paused_reason"],
        failures=int(row["failures"]),
        created_at=_instant(row["created_at"]),
    )


_INSTALLATION_COLUMNS = (
    "enterprise_id, team_id, bot_token, bot_id, bot_user_id, installed_at, app_id, "
    "enterprise_name, team_name, bot_scopes, bot_refresh_token, bot_token_expires_at, "
    "is_enterprise_install, installer_user_id"
)
_SAVE_INSTALLATION_SQL = f"""
INSERT INTO slack_installations ({_INSTALLATION_COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (enterprise_id, team_id) DO UPDATE SET
    app_id = excluded.app_id, enterprise_name = excluded.enterprise_name,
    team_name = excluded.team_name, bot_token = excluded.bot_token,
    bot_id = excluded.bot_id, bot_user_id = excluded.bot_user_id,
    bot_scopes = excluded.bot_scopes, bot_refresh_token = excluded.bot_refresh_token,
    bot_token_expires_at = excluded.bot_token_expires_at,
    is_enterprise_install = excluded.is_enterprise_install,
    installer_user_id = COALESCE(excluded.installer_user_id, slack_installations.installer_user_id),
    installed_at = excluded.installed_at
"""


def _installation_row(installation: SlackInstallation) -> tuple[Any, ...]:
    i = installation
    return (
        i.enterprise_id, i.team_id, i.bot_token, i.bot_id, i.bot_user_id, i.installed_at,
        i.app_id, i.enterprise_name, i.team_name, ",".join(i.bot_scopes), i.bot_refresh_token,
        i.bot_token_expires_at, i.is_enterprise_install, i.installer_user_id,
    )  # fmt: skip


def _installation(row: Row) -> SlackInstallation:
    return SlackInstallation(
        enterprise_id=row["enterprise_id"],
        team_id=row["team_id"],
        bot_token=row["bot_token"],
        bot_id=row["bot_id"],
        bot_user_id=row["bot_user_id"],
        installed_at=float(row["installed_at"]),
        app_id=row["app_id"],
        enterprise_name=row["enterprise_name"],
        team_name=row["team_name"],
        bot_scopes=tuple(scope for scope in row["bot_scopes"].split(",") if scope),
        bot_refresh_token=row["bot_refresh_token"],
        bot_token_expires_at=row["bot_token_expires_at"],
        is_enterprise_install=bool(row["is_enterprise_install"]),
        installer_user_id=row["installer_user_id"],
    )


def _subscription(row: Row, ref: ChannelRef) -> Subscription:
    return Subscription(
        id=int(row["id"]),
        channel=ref,
        query=row["query"],
        created_by=row["created_by"],
        created_at=_instant(row["created_at"]),
    )


async def _next_change_seq(db: Transaction) -> int:
    row = await db.fetchone("SELECT COALESCE(MAX(change_seq), 0) + 1 FROM papers")
    return int(row[0]) if row else 1


async def _existing_ids(db: Transaction, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids, 500):
        marks = ",".join("?" * len(chunk))
        rows = await db.fetchall(f"SELECT id FROM papers WHERE id IN ({marks})", chunk)
        found.update(row[0] for row in rows)
    return found


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _claim_arrays(claims: Sequence[DigestClaim]) -> tuple[Array, Array, Array]:
    return (
        Array([c.channel_id for c in claims]),
        Array([c.kind for c in claims]),
        Array([c.period for c in claims]),
    )


async def _finish_digests_pg(
    db: Database, outcomes: Sequence[DigestOutcome], now: datetime
) -> None:
    """:meth:`Store.finish_digests` on PostgreSQL: one statement (so one transaction and one
    round trip) for the whole batch. A statement per row cost the client ~50 us each, 3 s of a
    10,000-channel run; each round trip waits for an event loop busy planning digests."""
    posted = [(o.claim, paper_id) for o in outcomes for paper_id in o.posted_ids]
    await db.execute(
        "WITH finished AS (UPDATE digest_runs d SET status = o.status, finished_at = ?, "
        "detail = o.detail, lease_expires_at = NULL "
        "FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[]) "
        "AS o(channel_id, kind, period, status, detail) "
        "WHERE d.channel_id = o.channel_id AND d.kind = o.kind AND d.period = o.period) "
        "INSERT INTO posts (channel_id, paper_id, kind, posted_at) "
        "SELECT channel_id, paper_id, kind, ? "
        "FROM unnest(?::bigint[], ?::text[], ?::text[]) AS p(channel_id, paper_id, kind) "
        "ON CONFLICT (channel_id, kind, paper_id) DO NOTHING",
        (now, *_claim_arrays([o.claim for o in outcomes]),
         Array([o.status for o in outcomes]), Array([o.detail for o in outcomes]),
         now, Array([c.channel_id for c, _ in posted]), Array([p for _, p in posted]),
         Array([c.kind for c, _ in posted])),
    )  # fmt: skip
