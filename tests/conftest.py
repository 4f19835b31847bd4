from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest

from adapters.console import render
from bot.commands import Paperboy
from bot.ingest import ingest_papers
from bot.models import ChannelRef
from bot.replies import Command, Reply
from bot.search import SearchIndex
from bot.storage import Store
from tests.papers import NOW, seed_papers
from tests.slack.fake_slack import FakeSlack

# Fake Hugging Face and arXiv servers (``paper_server``, ``http_client``) for every test.
pytest_plugins = ["tests.fakes.paper_servers", "tests.fakes.postgres"]

GENERAL = ChannelRef("console", "team-a", "general")

Chat = Callable[..., Awaitable[str]]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's tokens or settings."""
    for name in list(os.environ):
        if name.startswith(("PAPERBOY_", "SLACK_", "DISCORD_", "DATABASE_URL")):
            monkeypatch.delenv(name)


# These modules run each test on both backends; the rest on SQLite (the default), so the suite
# stays fast. A test that is about SQLite itself is marked ``sqlite_only``.
BOTH_BACKENDS = {
    "test_storage",
    "test_delivery",
    "test_scheduling",
    "test_commands",
    "test_jobs",
    "test_reading_list",
    "test_club",
    "test_discussion",
    "test_workspace_settings",
    "test_scale_out",
    "test_slack_workers",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: a test of the SQLite backend itself")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if (
        "backend" in metafunc.fixturenames
        and module in BOTH_BACKENDS
        and not metafunc.definition.get_closest_marker("sqlite_only")
    ):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Where the test's store lives: a SQLite file, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        return tmp_path / "paperboy.db"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
async def store(database: Path | str) -> AsyncIterator[Store]:
    opened = await Store.open(database)
    yield opened
    await opened.close()


@pytest.fixture
def index(tmp_path: Path) -> SearchIndex:
    return SearchIndex.open(tmp_path / "paperboy.index")


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def bot(store: Store, index: SearchIndex, clock: Clock) -> Paperboy:
    await ingest_papers(store, index, seed_papers(), now=NOW)
    return Paperboy(store, index, lookup=None, clock=clock)


@pytest.fixture
def ask(bot: Paperboy) -> Callable[..., Awaitable[Reply]]:
    async def ask(text: str, user: str = "alice", channel: ChannelRef = GENERAL) -> Reply:
        return await bot.handle(Command(channel=channel, user=user, text=text))

    return ask


@pytest.fixture
def chat(ask: Callable[..., Awaitable[Reply]]) -> Chat:
    """Send a command, read the answer as the console shows it."""

    async def chat(text: str, user: str = "alice", channel: ChannelRef = GENERAL) -> str:
        return render(await ask(text, user=user, channel=channel))

    return chat


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack.start()
    yield fake
    await fake.close()
