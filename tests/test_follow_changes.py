"""Search on every worker: each keeps its own index caught up from the database's change feed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

from bot.app import open_app
from bot.config import Secret, Settings
from bot.ingest import follow_changes, ingest_papers
from bot.query import parse_query
from tests.papers import NOW, paper
from tests.test_cli import paperboy


async def test_a_paper_ingested_by_one_worker_is_found_on_another_within_5_s(
    pg_database: str, tmp_path: Path
) -> None:
    def worker(name: str) -> Settings:
        return Settings(database_url=Secret(pg_database), index_path=tmp_path / f"{name}.index")

    new = paper(1, id="2612.00001", title="Quokka attention for sparse retrieval")
    async with open_app(worker("a")) as one, open_app(worker("b")) as two:
        follower = asyncio.create_task(follow_changes(two.index, two.store))
        try:
            await ingest_papers(one.store, one.index, [new], now=NOW)
            started = time.monotonic()
            found: list[str] = []
            while time.monotonic() - started < 5 and not found:
                await asyncio.sleep(0.05)
                two.index.reload()
                found = [hit.paper_id for hit in two.index.search(parse_query("quokka")).hits]
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
    assert found == ["2612.00001"]
    assert time.monotonic() - started < 5


def test_an_unreachable_database_url_is_one_clear_line_and_a_failure(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://paperboy:hunter2@127.0.0.1:{port}/paperboy"

    result = paperboy("status", env_dir=tmp_path, extra_env={"DATABASE_URL": url})

    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"paperboy: cannot reach PostgreSQL at 127.0.0.1:{port}/paperboy: ")
    assert "hunter2" not in result.stderr
    assert not (tmp_path / "paperboy.db").exists()  # no quiet fallback to SQLite
