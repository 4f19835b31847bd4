"""Fixtures for the Slack adapter: a fake Slack, the real Bolt app over HTTP on 127.0.0.1, and
a workspace that sends requests signed exactly as Slack signs them (see ``workspace.py``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.slack_app import HttpServer, SlackApp, build_slack_app, serve_http
from bot.commands import Paperboy
from bot.config import Secret, Settings
from bot.storage import Store
from tests.slack.fake_slack import FakeSlack
from tests.slack.workspace import (
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM,
    FakeClock,
    Serve,
    Workspace,
)


@pytest.fixture(autouse=True)
def _no_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps here are built from Settings; a developer's own SLACK_* variables stay out of it."""
    for name in [name for name in os.environ if name.startswith("SLACK_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def slack_settings(tmp_path: Path, fake_slack: FakeSlack) -> Settings:
    return Settings(
        db_path=tmp_path / "paperboy.db",
        slack_bot_token=Secret(BOT_TOKEN),
        slack_signing_secret=Secret(SIGNING_SECRET),
        slack_api_url=fake_slack.api_url,
    )


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_slack_app(
    bot: Paperboy, store: Store, slack_settings: Settings, fake_clock: FakeClock
) -> Callable[..., SlackApp]:
    def make(settings: Settings = slack_settings, **options: Any) -> SlackApp:
        options.setdefault("clock", fake_clock)
        return build_slack_app(options.pop("bot", bot), settings, store=store, **options)

    return make


@pytest.fixture
async def slack_app(make_slack_app: Callable[..., SlackApp]) -> SlackApp:
    return make_slack_app()


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def slack_server(slack_app: SlackApp) -> AsyncIterator[HttpServer]:
    server = await serve_http(slack_app, "127.0.0.1", 0)
    yield server
    await server.close()


@pytest.fixture
def slack(
    http_session: aiohttp.ClientSession, slack_server: HttpServer, fake_slack: FakeSlack
) -> Workspace:
    return Workspace(http_session, slack_server.url, fake_slack)


@pytest.fixture
async def serve(http_session: aiohttp.ClientSession, fake_slack: FakeSlack) -> AsyncIterator[Serve]:
    """Serve another app over HTTP; returns a workspace talking to it (``team`` to choose)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(app: SlackApp, team: str = TEAM) -> Workspace:
            server = await serve_http(app, "127.0.0.1", 0)
            stack.push_async_callback(server.close)
            return Workspace(http_session, server.url, fake_slack, team=team)

        yield start
