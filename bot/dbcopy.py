"""Moving up: copy a SQLite install into PostgreSQL, keeping every row's id.

Table by table in foreign-key order, a batch per transaction, ``ON CONFLICT DO NOTHING``: a
second run (or a run after an interruption) copies only what is missing and changes nothing
else. Each PostgreSQL identity is then moved past the highest copied id, so rows created
afterwards do not collide with copied ones. Values are read as SQLite stores them (ISO text,
0/1, JSON text) and turned into the Python values the PostgreSQL driver sends by column type.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from bot.database import Database, SqliteDatabase, StorageError, open_database

BATCH_SIZE = 1000

# Parents before children. Job leases and request keys are not copied: they last minutes.
TABLES = (
    "papers",
    "channels",
    "subscriptions",
    "votes",
    "shares",
    "posts",
    "digest_runs",
    "source_status",
    "slack_installations",
    "slack_oauth_states",
    "reading_list",
    "club_claims",
    "paper_messages",
    "discussion_replies",
    "workspace_settings",
)


@dataclass(frozen=True, slots=True)
class TableCopy:
    table: str
    read: int  # rows in SQLite
    copied: int  # rows new to PostgreSQL; the rest were there already

    def summary(self) -> str:
        there = self.read - self.copied
        return f"{self.table}: {self.read} rows, {self.copied} copied, {there} already there"


def _clock(text: str) -> time:
    hour, minute = (int(part) for part in text.split(":")[:2])
    return time(hour, minute)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "timestamp with time zone": lambda v: datetime.fromisoformat(v),
    "boolean": bool,
    "jsonb": json.loads,
    "time without time zone": _clock,
    "date": date.fromisoformat,
}


async def copy_sqlite_to_postgres(
    source: Path, target_url: str, progress: Callable[[TableCopy], None] | None = None
) -> list[TableCopy]:
    """Copy every table of the SQLite file ``source`` into the database at ``target_url``."""
    if not await asyncio.to_thread(source.is_file):
        raise StorageError(f"{source} does not exist: nothing to copy (set PAPERBOY_DB)")
    sqlite = await SqliteDatabase.open(source)  # brings an older file up to this schema first
    try:
        target = await open_database(target_url)
        try:
            reports = []
            for table in TABLES:
                report = await _copy_table(sqlite, target, table)
                if progress:
                    progress(report)
                reports.append(report)
            await _move_identities(target)
            return reports
        finally:
            await target.close()
    finally:
        await sqlite.close()


async def _copy_table(sqlite: SqliteDatabase, target: Database, table: str) -> TableCopy:
    types = await _column_types(target, table)
    columns = [row["name"] for row in await sqlite.fetchall(f"PRAGMA table_info({table})")]
    columns = [name for name in columns if name in types]
    names = ", ".join(columns)
    insert = (
        f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}) "
        "ON CONFLICT DO NOTHING"
    )
    converters = [_CONVERT.get(types[name]) for name in columns]
    read = copied = 0
    last_rowid = 0
    while True:
        rows = await sqlite.fetchall(
            f"SELECT rowid, {names} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last_rowid, BATCH_SIZE),
        )
        if not rows:
            return TableCopy(table, read, copied)
        last_rowid = int(rows[-1][0])
        values = [_convert(row, converters) for row in rows]
        async with target.transaction() as tx:
            copied += await tx.execute_many(insert, values)
        read += len(rows)


def _convert(row: Any, converters: Sequence[Callable[[Any], Any] | None]) -> tuple[Any, ...]:
    return tuple(
        value if convert is None or value is None else convert(value)
        for convert, value in zip(
            converters, (row[i + 1] for i in range(len(converters))), strict=True
        )
    )


async def _column_types(target: Database, table: str) -> dict[str, str]:
    rows = await target.fetchall(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ?",
        (table,),
    )
    return {row[0]: row[1] for row in rows}


async def _move_identities(target: Database) -> None:
    rows = await target.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for table, column in ((row[0], row[1]) for row in rows):
        # setval(…, false) with an empty table: the next id is 1, as in a new database.
        await target.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        )
