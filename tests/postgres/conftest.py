"""A fresh PostgreSQL database per test, on the cluster PAPERBOY_TEST_DATABASE_URL points at.

``scripts/pg-cluster start DIR`` starts a throwaway cluster and prints the variable; ``.ci/run``
does so by itself. Without it these tests skip, except under CI=true, where they fail: CI must
never pass on SQLite alone.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.fakes.postgres import require_cluster


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    admin_url = require_cluster()
    name = f"t_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_url, dbname=name)
    finally:
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
            await admin.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )
