"""The store's way to a database: a small port and its SQLite driver (PostgreSQL: bot/postgres.py).

The store writes its SQL once, with ``?`` placeholders and portable syntax (``ON CONFLICT``,
``RETURNING``, ``IS DISTINCT FROM``), and passes plain Python values: aware datetimes, dates,
times, bools, lists for JSON. Each driver turns those into what its database stores, and hands
rows back that answer both ``row["name"]`` and ``row[0]``. What cannot be shared (schema
versions, backups, change notifications) is a driver method.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

log = logging.getLogger(__name__)

Params = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Array:
    """Values sent as one PostgreSQL array parameter (``unnest(?::text[])``), not as JSON: a
    batch written by one statement instead of one statement per row. PostgreSQL only."""

    items: Sequence[Any]


class StorageError(RuntimeError):
    """The database cannot be used as it is; the message says why and what to do."""


class Row(Protocol):
    """A result row, by column name or position (sqlite3.Row, and the PostgreSQL driver's)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Transaction(Protocol):
    """Statements that commit together, or not at all."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement once per row; returns the rows changed in all."""
        ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...


class Database(Protocol):
    """One database, SQLite or PostgreSQL, as the store sees it."""

    dialect: str  # "sqlite" | "postgresql"

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in a transaction of its own; returns the rows it changed."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def schema_version(self) -> int: ...

    async def backup(self, target: Path) -> None: ...

    async def wait_for_change(self, wait_s: float) -> bool:
        """Wait until another process may have changed papers, or ``wait_s`` seconds.
        True when told of a change; False when the time ran out (then poll anyway)."""
        ...

    async def close(self) -> None: ...


def to_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# Values every driver sends as they are. A batch write converts a few hundred thousand values;
# looking their type up once is 5x quicker than asking each isinstance question in turn.
PLAIN_TYPES = frozenset({str, int, float, bytes, type(None)})


@functools.lru_cache(maxsize=256)
def _iso(moment: datetime) -> str:
    # A batch stamps every row with the same instant: convert it once, not once per row.
    return to_iso(moment)


def sqlite_value(value: Any) -> Any:
    """A Python value as SQLite stores it (ISO text for instants, 0/1, JSON text)."""
    if type(value) in PLAIN_TYPES:
        return value
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _sqlite_params(params: Params) -> tuple[Any, ...]:
    return tuple([sqlite_value(value) for value in params])


class _SqliteTransaction:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._db.execute(sql, _sqlite_params(params))
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> int:
        cursor = await self._db.executemany(sql, [_sqlite_params(row) for row in rows])
        return max(cursor.rowcount, 0)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        # One trip to the database thread (execute, fetch, close there), not three: each trip
        # waits for the event loop, which is what a busy bot is short of.
        return list(await self._db.execute_fetchall(sql, _sqlite_params(params)))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """For queries of one row at most (by key, or an aggregate), so fetching all is fine."""
        rows = list(await self._db.execute_fetchall(sql, _sqlite_params(params)))
        return rows[0] if rows else None


class SqliteDatabase:
    """One SQLite file in WAL mode: one writer at a time here, other processes wait on the file."""

    dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._reader = _SqliteTransaction(db)
        self._write_lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        if path.parent != Path():
            path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            await db.execute("PRAGMA busy_timeout = 10000")
            # Refuse a newer schema before anything (even the journal mode) touches the file.
            await _refuse_newer_schema(db, path)
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA synchronous = NORMAL")
            await _migrate(db, path)
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    async def close(self) -> None:
        await self._db.close()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._reader.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._reader.fetchone(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        # One statement is atomic by itself; the lock keeps it out of another task's transaction.
        async with self._write_lock:
            return await self._reader.execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction at a time in this process; other processes wait on SQLite."""
        async with self._write_lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._reader
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    async def schema_version(self) -> int:
        return await _user_version(self._db)

    async def backup(self, target: Path) -> None:
        await self._db.execute("VACUUM INTO ?", (str(target),))

    async def wait_for_change(self, wait_s: float) -> bool:
        # One process writes a SQLite file's papers and its index together: nothing to hear.
        await asyncio.sleep(wait_s)
        return False

    async def pragma(self, name: str) -> Any:
        """A PRAGMA's value (journal_mode, foreign_keys, ...), for checks and diagnostics."""
        row = await self._reader.fetchone(f"PRAGMA {name}")
        return row[0] if row else None


def migrations() -> list[tuple[int, str]]:
    """Every SQLite migration shipped with this version, as (version, SQL), in order."""
    found = []
    for entry in resources.files("bot.migrations").iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


async def _user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _refuse_newer_schema(db: aiosqlite.Connection, path: Path) -> None:
    current = await _user_version(db)
    newest = migrations()[-1][0]
    if current > newest:
        raise StorageError(
            f"{path} was written by a newer Paperboy (schema version {current}; this version "
            f"knows up to {newest}). Upgrade Paperboy; the database was left untouched."
        )


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    current = await _user_version(db)
    for version, sql in migrations():
        if version <= current:
            continue
        log.info("migrating %s to schema version %d", path, version)
        try:
            await db.execute("BEGIN IMMEDIATE")
            for statement in _statements(sql):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {version:d}")
            await db.commit()
        except BaseException:
            await db.rollback()
            raise


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (so they all run in one transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not buffer.strip().startswith("--"):
        statements.append(buffer.strip())
    return statements


def is_postgres_url(location: Path | str) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


async def open_database(location: Path | str) -> Database:
    """PostgreSQL for a ``postgresql://`` URL, otherwise the SQLite file at ``location``."""
    if is_postgres_url(location):
        from bot.postgres import PostgresDatabase  # psycopg loads only when PostgreSQL is used

        return await PostgresDatabase.open(str(location))
    return await SqliteDatabase.open(Path(location))
