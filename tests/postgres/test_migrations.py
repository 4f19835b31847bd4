from __future__ import annotations

import asyncio
import socket
import sqlite3
from importlib import resources

import psycopg
import pytest

from bot.pgmigrate import MIGRATION_LOCK, Migration, MigrationError, migrate, migrations
from bot.storage import StorageError


async def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(query.encode())
        return await cursor.fetchall()


async def _tables(url: str) -> list[str]:
    rows = await _rows(
        url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    return [str(row[0]) for row in rows]


NEWEST = migrations()[-1].version
ALL = tuple(m.version for m in migrations())  # every version shipped, oldest first


def _sqlite_versions() -> list[int]:
    return sorted(
        int(entry.name.split("_", 1)[0])
        for entry in resources.files("bot.migrations").iterdir()
        if entry.name.endswith(".sql")
    )


def _sqlite_columns() -> dict[str, set[str]]:
    """Every table and column of a SQLite database at the newest schema version."""
    db = sqlite3.connect(":memory:")
    for entry in sorted(resources.files("bot.migrations").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            db.executescript(entry.read_text("utf-8"))
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {t: {row[1] for row in db.execute(f"PRAGMA table_info({t})")} for t in tables}


def test_each_sqlite_schema_version_has_a_postgresql_migration() -> None:
    assert [m.version for m in migrations()] == _sqlite_versions()


async def test_a_fresh_database_gets_every_version(pg_url: str) -> None:
    report = await migrate(pg_url)

    assert report.applied == ALL
    assert report.version == NEWEST
    assert await _rows(pg_url, "SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in ALL
    ]
    assert (await migrate(pg_url)).applied == ()


async def test_postgresql_has_every_sqlite_table_and_column(pg_url: str) -> None:
    await migrate(pg_url)
    rows = await _rows(
        pg_url,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public'",
    )
    postgres: dict[str, set[str]] = {}
    for table, column in rows:
        postgres.setdefault(str(table), set()).add(str(column))

    for table, columns in _sqlite_columns().items():
        assert columns <= postgres.get(table, set()), table


async def test_ten_workers_starting_at_once_migrate_once(pg_url: str) -> None:
    reports = await asyncio.gather(*(migrate(pg_url) for _ in range(10)))

    assert sorted(report.applied for report in reports) == [()] * 9 + [ALL]
    assert {report.version for report in reports} == {NEWEST}
    assert await _rows(
        pg_url, "SELECT version, COUNT(*) FROM schema_version GROUP BY 1 ORDER BY 1"
    ) == [(version, 1) for version in range(1, NEWEST + 1)]


async def test_an_older_database_gets_only_what_it_lacks_and_keeps_its_data(pg_url: str) -> None:
    assert (await migrate(pg_url, up_to=1)).applied == (1,)
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO channels (platform, workspace, channel, created_at) "
            "VALUES ('slack', 'T1', 'C1', now())"
        )

    assert (await migrate(pg_url)).applied == ALL[1:]
    assert await _rows(pg_url, "SELECT channel FROM channels") == [("C1",)]
    assert "slack_installations" in await _tables(pg_url)


async def test_a_newer_schema_is_refused_and_left_untouched(pg_url: str) -> None:
    await migrate(pg_url)
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO schema_version (version, name) VALUES (%s, 'later.sql')", (NEWEST + 1,)
        )
    before = (await _tables(pg_url), await _rows(pg_url, "SELECT * FROM schema_version"))

    newer = rf"newer Paperboy \(schema version {NEWEST + 1}; .* up to {NEWEST}\)"
    with pytest.raises(MigrationError, match=newer):
        await migrate(pg_url)

    assert (await _tables(pg_url), await _rows(pg_url, "SELECT * FROM schema_version")) == before


async def test_a_failing_migration_is_rolled_back_whole(pg_url: str) -> None:
    broken = Migration(NEWEST + 1, "broken.sql", "CREATE TABLE half_done (x int);\nSELECT nope();")

    with pytest.raises(MigrationError, match=r"broken\.sql failed and was rolled back"):
        await migrate(pg_url, shipped=[*migrations(), broken])

    assert "half_done" not in await _tables(pg_url)
    assert await _rows(pg_url, "SELECT MAX(version) FROM schema_version") == [(NEWEST,)]


async def test_a_stuck_migrator_is_reported_not_waited_for_forever(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as stuck:
        await stuck.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))

        with pytest.raises(MigrationError, match="another process has been migrating"):
            await migrate(pg_url, lock_wait_s=0.2)

    assert await _tables(pg_url) == []


async def test_an_unreachable_server_is_named_without_its_password() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(
        StorageError, match=f"cannot reach PostgreSQL at 127.0.0.1:{port}/paperboy"
    ) as caught:
        await migrate(f"postgresql://paperboy:hunter2@127.0.0.1:{port}/paperboy")

    assert "hunter2" not in str(caught.value)
