from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest

from bot.sources.http import MinIntervalLimiter, RetryPolicy, SourceError, get_with_retry
from tests.fakes.paper_servers import HF_PATH, FakePaperServer, FakeTime

# Jitter pinned to its lowest value: backoff is then exactly half of base * 2**n.
STEADY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=30.0, jitter=lambda: 0.0)


async def fetch(
    client: httpx.AsyncClient,
    server: FakePaperServer,
    fake: FakeTime,
    *,
    policy: RetryPolicy = STEADY,
    attempt_timeout: float = 5.0,
) -> httpx.Response:
    return await get_with_retry(
        client,
        server.url + HF_PATH,
        source="hf",
        attempt_timeout=attempt_timeout,
        params={"date": "2026-11-26"},
        policy=policy,
        sleep=fake.sleep,
    )


async def test_success_returns_the_response_without_retrying(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    fake = FakeTime()
    response = await fetch(http_client, paper_server, fake)
    assert response.status_code == 200
    assert response.json()[0]["paper"]["id"] == "2611.01001"
    assert [r.query for r in paper_server.requests] == [{"date": "2026-11-26"}]
    assert fake.sleeps == []


async def test_429_waits_for_retry_after_then_succeeds(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=429, headers={"Retry-After": "7"})
    fake = FakeTime()
    response = await fetch(http_client, paper_server, fake)
    assert response.status_code == 200
    assert fake.sleeps == [7.0]
    assert len(paper_server.requests) == 2


async def test_503_retry_after_is_honoured_but_capped(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=503, headers={"Retry-After": "3600"})
    fake = FakeTime()
    policy = RetryPolicy(max_retry_after=12.0, jitter=lambda: 0.0)
    await fetch(http_client, paper_server, fake, policy=policy)
    assert fake.sleeps == [12.0]


async def test_unusable_retry_after_falls_back_to_backoff(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=429, headers={"Retry-After": "soon"})
    fake = FakeTime()
    await fetch(http_client, paper_server, fake)
    assert fake.sleeps == [0.5]


async def test_5xx_backs_off_exponentially_with_jitter(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=502, times=3)
    fake = FakeTime()
    highest = RetryPolicy(attempts=4, base_delay=1.0, jitter=lambda: 0.999)
    await fetch(http_client, paper_server, fake, policy=highest)
    assert fake.sleeps == pytest.approx([1.0, 2.0, 4.0], abs=0.01)
    assert len(paper_server.requests) == 4


async def test_persistent_500_gives_up_with_one_clear_line(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=500, body="<html>\n<h1>oops</h1>\n</html>", times=4)
    fake = FakeTime()
    with pytest.raises(SourceError) as caught:
        await fetch(http_client, paper_server, fake)
    assert str(caught.value) == (
        "hf GET /api/daily_papers: HTTP 500 Internal Server Error (gave up after 4 attempts)"
    )
    assert caught.value.status == 500
    assert len(paper_server.requests) == 4
    assert fake.sleeps == [0.5, 1.0, 2.0]


async def test_other_4xx_fails_at_once(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=404)
    fake = FakeTime()
    with pytest.raises(SourceError, match=r"^hf GET /api/daily_papers: HTTP 404 Not Found$"):
        await fetch(http_client, paper_server, fake)
    assert len(paper_server.requests) == 1
    assert fake.sleeps == []


async def test_allowed_status_is_returned_for_the_caller_to_read(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=400, body="explained")
    response = await get_with_retry(
        http_client,
        paper_server.url + HF_PATH,
        source="hf",
        attempt_timeout=5.0,
        allow_status={400},
    )
    assert (response.status_code, response.text) == (400, "explained")


async def test_slow_server_times_out_each_attempt_then_fails_cleanly(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, delay=5.0, times=2)
    fake = FakeTime()
    policy = RetryPolicy(attempts=2, jitter=lambda: 0.0)
    with pytest.raises(SourceError) as caught:
        await fetch(http_client, paper_server, fake, policy=policy, attempt_timeout=0.2)
    assert str(caught.value) == (
        "hf GET /api/daily_papers: timed out after 0.2s (gave up after 2 attempts)"
    )
    assert len(paper_server.requests) == 2


async def test_timeout_then_success(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, delay=5.0)
    fake = FakeTime()
    response = await fetch(http_client, paper_server, fake, attempt_timeout=0.5)
    assert response.status_code == 200
    assert fake.sleeps == [0.5]


async def test_refused_connection_is_retried_then_reported(http_client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeTime()
    with pytest.raises(SourceError, match=r"connection failed .*gave up after 3 attempts"):
        await get_with_retry(
            http_client,
            f"http://127.0.0.1:{port}/api/query",
            source="arxiv",
            attempt_timeout=2.0,
            policy=RetryPolicy(attempts=3, jitter=lambda: 0.0),
            sleep=fake.sleep,
        )
    assert fake.sleeps == [0.5, 1.0]


async def test_error_text_keeps_credentials_and_query_out(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=403)
    url = paper_server.url.replace("http://", "http://bot:hunter2@") + HF_PATH + "?token=abc123"
    with pytest.raises(SourceError) as caught:
        await get_with_retry(http_client, url, source="hf", attempt_timeout=5.0)
    text = str(caught.value)
    assert "hunter2" not in text
    assert "abc123" not in text
    assert text == "hf GET /api/daily_papers: HTTP 403 Forbidden"


async def test_retries_are_logged_one_line_each(
    http_client: httpx.AsyncClient,
    paper_server: FakePaperServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    paper_server.queue_response(HF_PATH, status=429, headers={"Retry-After": "2"})
    with caplog.at_level(logging.INFO, logger="bot.sources"):
        await fetch(http_client, paper_server, FakeTime())
    assert [r.getMessage() for r in caplog.records] == [
        "hf GET /api/daily_papers: HTTP 429 Too Many Requests; retry 1 of 3 in 2.0s"
    ]


def test_retry_policy_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


def test_source_error_is_one_line_even_for_multiline_problems() -> None:
    error = SourceError("arxiv", "bad\n  things\thappened " + "x" * 500, url="https://h/api/query")
    assert "\n" not in str(error)
    assert str(error).startswith("arxiv GET /api/query: bad things happened x")
    assert len(str(error)) < 340


async def test_limiter_spaces_concurrent_callers() -> None:
    fake = FakeTime()
    limiter = MinIntervalLimiter(3.0, fake.clock, fake.sleep)
    starts: list[float] = []

    async def caller() -> None:
        await limiter.wait()
        starts.append(fake.now)

    await asyncio.gather(*(caller() for _ in range(4)))
    assert starts == [1000.0, 1003.0, 1006.0, 1009.0]


async def test_limiter_does_not_wait_when_enough_time_has_passed() -> None:
    fake = FakeTime()
    limiter = MinIntervalLimiter(3.0, fake.clock, fake.sleep)
    await limiter.wait()
    fake.now += 10
    await limiter.wait()
    fake.now += 1
    await limiter.wait()
    assert fake.sleeps == [2.0]
