"""PostgreSQL schema migrations: versioned SQL files applied once per cluster, whoever starts first.

Every worker calls :func:`migrate` on start. They queue on a session advisory lock; the first
applies what is missing, each migration in its own transaction together with its
``schema_version`` row, and the rest find nothing left to do. A database whose schema is newer
than this code is refused before anything is written to it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeAlias

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from bot.database import StorageError

log = logging.getLogger(__name__)

# Session advisory lock held while migrating ("paperboy migrations"); the change feed's
# transaction lock in 0001_initial.sql uses 7146331001.
MIGRATION_LOCK = 7146331000
CONNECT_TIMEOUT_S = 10

Connection: TypeAlias = psycopg.AsyncConnection[tuple[Any, ...]]


class MigrationError(StorageError):
    """The schema cannot be brought up to date; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied: tuple[int, ...]  # versions this call applied, oldest first; () if none were due
    version: int  # the schema version afterwards


def migrations() -> list[Migration]:
    """Every PostgreSQL migration shipped with this version, oldest first."""
    folder = resources.files("bot.migrations").joinpath("postgresql")
    found = [
        Migration(int(entry.name.split("_", 1)[0]), entry.name, entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda migration: migration.version)


def describe(conninfo: str) -> str:
    """host:port/dbname for messages and logs: never the user's password."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "the configured PostgreSQL database"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


async def connect(conninfo: str, **options: Any) -> Connection:
    """An autocommit connection, or a :class:`StorageError` that names the server, not secrets."""
    try:
        return await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, **options
        )
    except psycopg.OperationalError as error:
        raise StorageError(
            f"cannot reach PostgreSQL at {describe(conninfo)}: {_first_line(error)}"
        ) from None


async def migrate(
    conninfo: str,
    *,
    up_to: int | None = None,
    lock_wait_s: float = 300.0,
    shipped: Sequence[Migration] | None = None,
) -> MigrationReport:
    """Bring the database at ``conninfo`` up to the newest (or ``up_to``) schema version."""
    shipped = sorted(shipped if shipped is not None else migrations(), key=lambda m: m.version)
    target = up_to if up_to is not None else shipped[-1].version
    async with await connect(conninfo) as conn:
        await _lock(conn, conninfo, lock_wait_s)
        try:
            current = await schema_version(conn)
            _refuse_newer(current, shipped[-1].version, conninfo)
            applied = [await _apply(conn, m) for m in shipped if current < m.version <= target]
            return MigrationReport(tuple(applied), await schema_version(conn))
        finally:
            # A broken connection has lost the lock already; the original error says why.
            with contextlib.suppress(psycopg.Error):
                await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


async def schema_version(conn: Connection) -> int:
    """The database's schema version: 0 for a database Paperboy never migrated."""
    cursor = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    exists = await cursor.fetchone()
    if not exists or not exists[0]:
        return 0
    cursor = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _lock(conn: Connection, conninfo: str, wait_s: float) -> None:
    # A session lock, not a transaction one: it spans the migrations' separate transactions,
    # and the server drops it by itself if this process dies midway.
    await conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{wait_s * 1000:.0f}",))
    try:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    except errors.LockNotAvailable:
        raise MigrationError(
            f"another process has been migrating {describe(conninfo)} for over {wait_s:.0f} s; "
            "check that it is not stuck, then start again"
        ) from None
    await conn.execute("SET lock_timeout = 0")


def _refuse_newer(current: int, newest: int, conninfo: str) -> None:
    if current > newest:
        raise MigrationError(
            f"{describe(conninfo)} was written by a newer Paperboy (schema version {current}; "
            f"this version knows up to {newest}). Upgrade Paperboy; the database was left "
            "untouched."
        )


async def _apply(conn: Connection, migration: Migration) -> int:
    log.info("migrating PostgreSQL to schema version %d (%s)", migration.version, migration.name)
    try:
        async with conn.transaction():
            # A whole file in one simple-protocol call: statements, functions and all.
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
    except psycopg.DatabaseError as error:
        raise MigrationError(
            f"migration {migration.name} failed and was rolled back: {_first_line(error)}"
        ) from error
    return migration.version


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
