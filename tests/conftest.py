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

# Fake Hugging Face and arXiv servers (``paper_server``, ``http_client``) for every test.
pytest_plugins = ["tests.fakes.paper_servers"]

GENERAL = ChannelRef("console", "team-a", "general")

Chat = Callable[..., Awaitable[str]]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's tokens or settings."""
    for name in list(os.environ):
        if name.startswith(("PAPERBOY_", "SLACK_", "DISCORD_")):
            monkeypatch.delenv(name)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "paperboy.db")
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
