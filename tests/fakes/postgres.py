"""Fresh PostgreSQL databases for tests, on the cluster PAPERBOY_TEST_DATABASE_URL points at.

The schema is migrated once per session into one database, which each test gets emptied.
Without a cluster the PostgreSQL side skips, except under CI=true, where it fails: CI must
never pass on SQLite alone.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from bot.pgmigrate import migrate

# Read at import: the suite's autouse fixture clears PAPERBOY_* before every test.
ADMIN_URL = os.environ.get("PAPERBOY_TEST_DATABASE_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_cluster() -> str:
    if ADMIN_URL:
        return ADMIN_URL
    if IN_CI:
        pytest.fail(
            "CI=true but PAPERBOY_TEST_DATABASE_URL is not set: the PostgreSQL tests must run in "
            "CI (.ci/run starts a cluster with scripts/pg-cluster)",
            pytrace=False,
        )
    pytest.skip("no PostgreSQL: set PAPERBOY_TEST_DATABASE_URL (scripts/pg-cluster start DIR)")


def database_url(name: str) -> str:
    """The cluster's URL with another database name (a URL, as DATABASE_URL is)."""
    return urlsplit(require_cluster())._replace(path=f"/{name}").geturl()


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(require_cluster(), autocommit=True) as admin:
        admin.execute(statement)


def _drop(name: str) -> None:
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_session_database() -> Iterator[str]:
    """One database at the newest schema for the whole session (a CREATE DATABASE costs about
    half a second; emptying the tables costs a few milliseconds)."""
    name = f"s_{secrets.token_hex(6)}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        asyncio.run(migrate(database_url(name)))
        yield database_url(name)
    finally:
        _drop(name)


@pytest.fixture
def pg_database(pg_session_database: str) -> str:
    """The URL of an empty database at the newest schema: the session's, emptied for this test
    (identities and the change feed restart, as in a new database)."""
    with psycopg.connect(pg_session_database, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename != 'schema_version'"
            )
        ]
        conn.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(map(sql.Identifier, tables))
            )
        )
        conn.execute("ALTER SEQUENCE papers_change_feed RESTART")
    return pg_session_database
