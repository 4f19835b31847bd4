"""Two Slack HTTP workers behind one load balancer, on one database: a retry or a double click
that lands on the other worker is still handled once, and each worker serves ``/metrics``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.slack_app import SlackApp, build_slack_app
from bot.commands import Paperboy
from bot.config import Settings
from bot.search import SearchIndex
from bot.storage import Store
from tests.conftest import Clock
from tests.slack.test_slack_votes import PAPER, shared_list, votes
from tests.slack.workspace import FakeClock, Serve, Workspace

RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@pytest.fixture
async def other_worker(
    store: Store, index: SearchIndex, clock: Clock, slack_settings: Settings, fake_clock: FakeClock
) -> AsyncIterator[SlackApp]:
    """Another process's app: its own connection to the same database, its own memory."""
    other_store = await Store.open(store.location)
    app = build_slack_app(
        Paperboy(other_store, index, lookup=None, clock=clock), slack_settings,
        store=other_store, clock=fake_clock,
    )  # fmt: skip
    yield app
    await app.drain()
    await other_store.close()


async def test_a_retried_click_landing_on_the_other_worker_counts_once(
    slack: Workspace, slack_app: SlackApp, other_worker: SlackApp, serve: Serve, store: Store
) -> None:
    other = await serve(other_worker)
    message = await shared_list(slack)
    click = slack.click_payload(message, PAPER)

    first = await slack.action(click)
    retry = await other.action(click, headers=RETRY)
    await slack_app.drain()
    await other_worker.drain()

    assert (first.status, retry.status) == (200, 200)
    assert await votes(store) == 1
    assert len(slack.fake.calls_to("chat.update")) == 1


async def test_a_double_click_split_across_workers_counts_once(
    slack: Workspace, slack_app: SlackApp, other_worker: SlackApp, serve: Serve, store: Store,
    fake_clock: FakeClock,
) -> None:  # fmt: skip
    other = await serve(other_worker)
    message = await shared_list(slack)

    await slack.action(slack.click_payload(message, PAPER, user="U1"))
    fake_clock.advance(0.3)
    await other.action(slack.click_payload(message, PAPER, user="U1"))  # a new trigger_id
    await slack_app.drain()
    await other_worker.drain()
    assert await votes(store) == 1

    fake_clock.advance(5)  # a considered second click, on either worker, takes the vote back
    await other.action(slack.click_payload(message, PAPER, user="U1"))
    await other_worker.drain()
    assert await votes(store) == 0


async def test_the_slack_http_worker_serves_its_metrics(slack: Workspace) -> None:
    before = await _scrape(slack)
    await slack.command("search attention")
    after = await _scrape(slack)

    commands = 'paperboy_requests_total{kind="command",platform="slack"}'
    acks = 'paperboy_ack_seconds_count{platform="slack"}'
    assert after[commands] == before.get(commands, 0) + 1
    assert after[acks] == before.get(acks, 0) + 1


async def _scrape(slack: Workspace) -> dict[str, float]:
    """Each sample of the worker's ``/metrics`` (Prometheus text), by name and labels."""
    async with slack.session.get(f"{slack.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert "xoxb" not in text
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    return {name: float(value) for name, value in samples}
