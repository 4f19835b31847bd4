"""What an operator watches: Prometheus /metrics (one process or many) and JSON log lines, with
no secret in either."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics_http import METRICS_PATH, add_metrics_route, serve_metrics
from bot import logs, metrics
from bot.commands import Paperboy
from bot.config import ConfigError, Settings
from bot.delivery import DigestDelivery
from bot.ingest import ingest_papers
from bot.models import ChannelRef
from bot.replies import Command
from bot.search import SearchIndex
from bot.sources.http import MinIntervalLimiter
from bot.storage import Store
from tests.papers import seed_papers
from tests.test_delivery import START, RecordingPoster

ROOT = Path(__file__).resolve().parents[1]
SLACK_TOKEN = "xoxb-1234567890-abcdefABCDEF"


@pytest.fixture
async def metrics_url() -> AsyncIterator[str]:
    runner = await serve_metrics("127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}{METRICS_PATH}"
    await runner.cleanup()


async def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_metrics_count_the_digests_a_run_posted_and_the_searches_made(
    metrics_url: str, store: Store, index: SearchIndex
) -> None:
    bot = Paperboy(store, index, clock=lambda: START - timedelta(days=1))
    channels = [ChannelRef("slack", "T1", f"c{n}") for n in range(3)]
    for channel in channels:
        await bot.handle(Command(channel, "admin", "schedule 09:00 UTC daily"))
    await ingest_papers(store, index, seed_papers(START), now=START)
    posted = ("paperboy_digests_total", (("outcome", "posted"),))
    searches = ("paperboy_search_seconds_count", ())
    before = await _scrape(metrics_url)

    await DigestDelivery(store, {"slack": RecordingPoster("slack")}).run_due(
        START + timedelta(hours=9)
    )
    await bot.handle(Command(channels[0], "U1", "search attention"))
    after = await _scrape(metrics_url)
    assert after[posted] - before.get(posted, 0) == 3
    assert after[searches] - before.get(searches, 0) == 1


async def test_a_rate_limit_wait_is_counted_with_its_target() -> None:
    now = [100.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = MinIntervalLimiter(3.0, clock=lambda: now[0], sleep=sleep, target="arxiv")

    def waits() -> float:
        labels = {"target": "arxiv"}
        return REGISTRY.get_sample_value("paperboy_rate_limit_waits_total", labels) or 0.0

    before = waits()
    await limiter.wait()
    await limiter.wait()  # at once after the first: waits 3 s
    assert waits() - before == 1


def test_metrics_from_many_processes_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), metrics.MULTIPROC_DIR: str(tmp_path)}
    bump = "from bot import metrics; metrics.DIGESTS.labels(outcome='posted').inc(2)"
    for _ in range(2):  # two workers, each gone before the scrape
        subprocess.run([sys.executable, "-c", bump], env=env, check=True, cwd=ROOT)
    show = "from bot import metrics; print(metrics.render()[0].decode())"
    text = subprocess.run(
        [sys.executable, "-c", show], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout
    samples = {
        (s.name, s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("paperboy_digests_total", "posted")] == 4


@pytest.fixture
def json_logs() -> AsyncIterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    logs.configure(logging.INFO, "json", stream=stream)
    yield stream
    for handler in [h for h in root.handlers if h.formatter and isinstance(
            h.formatter, logs.RedactingJsonFormatter)]:  # fmt: skip
        root.removeHandler(handler)
    root.setLevel(level)


def test_json_logs_are_one_object_per_event_without_secrets(json_logs: io.StringIO) -> None:
    log = logging.getLogger("bot.delivery")
    log.info("posted to %s with %s", "C1", SLACK_TOKEN)
    try:
        raise RuntimeError(f"refused: bot_token={SLACK_TOKEN}")
    except RuntimeError:
        log.exception("install failed for postgresql://paperboy:hunter2@db.internal/paperboy")
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert [(e["level"], e["logger"]) for e in lines] == [
        ("INFO", "bot.delivery"),
        ("ERROR", "bot.delivery"),
    ]
    assert lines[0]["message"] == "posted to C1 with xoxb-***" and "time" in lines[0]
    assert "RuntimeError" in lines[1]["exc_info"]
    text = json_logs.getvalue()
    assert SLACK_TOKEN not in text and "hunter2" not in text
    assert "postgresql://paperboy:***@db.internal" in text


def test_an_unknown_log_format_is_refused_by_name() -> None:
    assert (
        Settings.from_environ({"PAPERBOY_LOG_FORMAT": "JSON"}, env_file=None).log_format == "json"
    )
    with pytest.raises(ConfigError, match="PAPERBOY_LOG_FORMAT must be text or json"):
        Settings.from_environ({"PAPERBOY_LOG_FORMAT": "xml"}, env_file=None)


async def test_an_app_with_its_own_routes_serves_metrics_too_in_the_format_asked() -> None:
    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/healthz", health)
    add_metrics_route(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", trust_env=False) as http:
            assert (await http.get("/healthz")).text == "ok"
            plain = await http.get(METRICS_PATH)
            open_metrics = await http.get(
                METRICS_PATH, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
            )
    finally:
        await runner.cleanup()
    assert "# TYPE paperboy_digests_total counter" in plain.text
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")
