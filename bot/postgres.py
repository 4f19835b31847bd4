"""The store's PostgreSQL driver: psycopg 3 and a connection pool, for many workers at once.

Statements come from the store with ``?`` placeholders (shared with SQLite) and are rewritten to
psycopg's ``%s`` once each. Connections are autocommit; :meth:`PostgresDatabase.transaction`
opens an explicit transaction. The pool checks a connection before lending it, so the ones a
server restart broke are replaced instead of failing the next statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import RowMaker
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bot import pgmigrate
from bot.database import PLAIN_TYPES, Array, Params, Row, StorageError, Transaction

log = logging.getLogger(__name__)

POOL_MAX_SIZE = 10
CONNECT_TIMEOUT_S = 10.0
CHANGES_CHANNEL = "paper_changes"  # pg_notify'd by the papers triggers (migration 0001)


class PgRow:
    """A row answering ``row["name"]`` and ``row[0]``, as sqlite3.Row does."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str, /) -> Any:
        return self._values[key if isinstance(key, int) else self._names[key]]


def _row_factory(cursor: psycopg.AsyncCursor[Any]) -> RowMaker[PgRow]:
    names: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        names.setdefault(column.name, position)  # `SELECT s.*, c.channel`: the first one wins
    return functools.partial(PgRow, names)


@functools.lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    # The store's SQL holds no literal ? or %: its values always travel as parameters.
    return sql.replace("%", "%%").replace("?", "%s")


def pg_value(value: Any) -> Any:
    """A Python value as the PostgreSQL driver sends it: JSON as jsonb; instants to the second,
    as SQLite keeps them, so both backends hand back the same records."""
    if type(value) in PLAIN_TYPES:
        return value
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    if isinstance(value, list | dict):
        return Jsonb(value)
    if isinstance(value, Array):
        return [pg_value(item) for item in value.items]
    return value


def _pg_params(params: Params) -> tuple[Any, ...]:
    return tuple([pg_value(value) for value in params])


Connection = psycopg.AsyncConnection[Any]


class _PgTransaction:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(_pg_sql(sql), _pg_params(params))
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> int:
        values = [_pg_params(row) for row in rows]
        if not values:
            return 0
        async with self._conn.cursor() as cursor:
            await cursor.executemany(_pg_sql(sql), values)
            return max(cursor.rowcount, 0)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._conn.cursor(row_factory=_row_factory) as cursor:
            await cursor.execute(_pg_sql(sql), _pg_params(params))
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._conn.cursor(row_factory=_row_factory) as cursor:
            await cursor.execute(_pg_sql(sql), _pg_params(params))
            return await cursor.fetchone()


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database, migrated on open."""

    dialect = "postgresql"

    def __init__(self, pool: AsyncConnectionPool[Connection], conninfo: str) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._listener: Connection | None = None
        self.description = pgmigrate.describe(conninfo)

    @classmethod
    async def open(cls, conninfo: str) -> PostgresDatabase:
        """Migrate (once per cluster, whoever comes first), then open the pool.

        An unreachable server is a :class:`StorageError` naming host, port and database (never
        the password): with ``DATABASE_URL`` set there is no falling back to SQLite.
        """
        await pgmigrate.migrate(conninfo)
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=POOL_MAX_SIZE,
            kwargs={"autocommit": True, "connect_timeout": int(CONNECT_TIMEOUT_S)},
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="paperboy",
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout:
            await pool.close()
            raise StorageError(
                f"cannot reach PostgreSQL at {pgmigrate.describe(conninfo)}: "
                f"no connection within {CONNECT_TIMEOUT_S:.0f} s"
            ) from None
        return cls(pool, conninfo)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await self._pool.close()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._pool.connection() as conn:
            return await _PgTransaction(conn).fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self._pool.connection() as conn:
            return await _PgTransaction(conn).fetchone(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._pool.connection() as conn:
            return await _PgTransaction(conn).execute(sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._pool.connection() as conn, conn.transaction():
            yield _PgTransaction(conn)

    async def schema_version(self) -> int:
        async with self._pool.connection() as conn:
            return await pgmigrate.schema_version(conn)

    async def backup(self, target: Path) -> None:
        raise StorageError(
            f"`paperboy db backup` copies SQLite files; back up {self.description} with "
            f'pg_dump (for example `pg_dump -Fc -f {target} "$DATABASE_URL"`)'
        )

    async def wait_for_change(self, wait_s: float) -> bool:
        """Wait for a ``paper_changes`` notification on a connection of its own (a LISTEN ties
        up its connection, so it never comes from the pool). When the server is away, this
        waits out ``wait_s`` and tries to listen again next time: the caller polls meanwhile."""
        try:
            listener = await self._listen()
            async for _ in listener.notifies(timeout=wait_s, stop_after=1):
                return True
            return False
        except (psycopg.OperationalError, StorageError) as error:
            await self._drop_listener()
            log.warning("not listening for paper changes, polling instead: %s", error)
            await asyncio.sleep(wait_s)
            return False

    async def _listen(self) -> Connection:
        if self._listener is None or self._listener.closed:
            listener = await pgmigrate.connect(self._conninfo)
            await listener.execute(f"LISTEN {CHANGES_CHANNEL}")
            self._listener = listener
        return self._listener

    async def _drop_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                await self._listener.close()
            self._listener = None
