from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from bot.sources.hf import HuggingFaceSource, parse_daily_papers
from bot.sources.http import RetryPolicy, SourceError
from tests.fakes.paper_servers import HF_PATH, FakePaperServer, FakeTime, fixture_bytes

DAY_FILE = "hf/daily_papers_2026-11-26.json"


def day_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(fixture_bytes(DAY_FILE))
    return items


def encode(items: object) -> bytes:
    return json.dumps(items).encode("utf-8")


def test_parses_every_item_of_a_day() -> None:
    result = parse_daily_papers(fixture_bytes(DAY_FILE))
    assert result.skipped == 0
    assert [p.id for p in result.papers] == [f"2611.0100{n}" for n in range(1, 6)]


def test_maps_the_fields_of_an_item() -> None:
    first = parse_daily_papers(fixture_bytes(DAY_FILE)).papers[0]
    assert first.title == (
        "Propagate Yourself: Exploring Pixel-Level Consistency for Unsupervised Visual "
        "Representation Learning"
    )
    assert first.abstract.startswith("Contrastive learning methods for unsupervised visual")
    assert first.published == datetime(2026, 11, 24, tzinfo=UTC)
    assert first.published.tzinfo is UTC
    assert first.hf_upvotes == 212
    assert first.code_url == "https://github.com/example-lab/pixpro-synthetic"
    assert first.on_hf is True
    assert first.sources == frozenset({"hf"})
    assert (first.version, first.categories) == (1, ())
    assert first.hf_url == "https://huggingface.co/papers/2611.01001"


def test_hidden_authors_are_left_out_and_names_kept_intact() -> None:
    first = parse_daily_papers(fixture_bytes(DAY_FILE)).papers[0]
    assert first.authors == ("Alice Example", "Bob Example", "Zoë Ødegård")


def test_whitespace_in_titles_is_normalised() -> None:
    third = parse_daily_papers(fixture_bytes(DAY_FILE)).papers[2]
    assert third.title == "Efficient Streaming Language Models with Attention Sinks"
    assert third.authors == ("Dan Example", "Łukasz Żółć", "李华")


def test_item_without_repo_has_no_code_url() -> None:
    second = parse_daily_papers(fixture_bytes(DAY_FILE)).papers[1]
    assert second.code_url is None


def test_an_empty_day_has_no_papers() -> None:
    result = parse_daily_papers(fixture_bytes("hf/daily_papers_empty.json"))
    assert (result.papers, result.skipped) == ([], 0)


@pytest.mark.parametrize(
    "break_item",
    [
        pytest.param(lambda item: item["paper"].pop("id"), id="no id"),
        pytest.param(lambda item: item["paper"].update(id="not-an-id"), id="bad id"),
        pytest.param(lambda item: item["paper"].update(id="sample-001"), id="sample id"),
        pytest.param(lambda item: (item["paper"].pop("title"), item.pop("title")), id="no title"),
        pytest.param(lambda item: item["paper"].update(title=42), id="title not text"),
        pytest.param(lambda item: item["paper"].update(publishedAt="yesterday"), id="bad date"),
        pytest.param(lambda item: item.update(paper=None), id="paper null"),
        pytest.param(lambda item: item["paper"].update(authors="Alice"), id="authors not a list"),
    ],
)
def test_a_malformed_item_is_skipped_and_the_rest_kept(
    break_item: Any, caplog: pytest.LogCaptureFixture
) -> None:
    items = day_items()
    break_item(items[1])
    with caplog.at_level(logging.WARNING, logger="bot.sources.hf"):
        result = parse_daily_papers(encode(items))
    assert [p.id for p in result.papers] == ["2611.01001", "2611.01003", "2611.01004", "2611.01005"]
    assert result.skipped == 1
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("hf: skipping daily paper #1: ")


def test_items_that_are_not_objects_are_skipped() -> None:
    result = parse_daily_papers(encode(["2611.01001", None, day_items()[0]]))
    assert ([p.id for p in result.papers], result.skipped) == (["2611.01001"], 2)


def test_item_level_fields_stand_in_for_missing_paper_fields() -> None:
    items = day_items()[:1]
    del items[0]["paper"]["title"], items[0]["paper"]["summary"], items[0]["paper"]["publishedAt"]
    paper = parse_daily_papers(encode(items)).papers[0]
    assert paper.title.startswith("Propagate Yourself")
    assert paper.abstract.startswith("Contrastive learning")
    assert paper.published == datetime(2026, 11, 23, 19, tzinfo=UTC)


def test_optional_fields_may_be_missing() -> None:
    items = day_items()[:1]
    for key in ("summary", "authors", "upvotes", "githubRepo"):
        del items[0]["paper"][key]
    del items[0]["summary"]
    paper = parse_daily_papers(encode(items)).papers[0]
    assert (paper.abstract, paper.authors, paper.hf_upvotes, paper.code_url) == ("", (), 0, None)


def test_versioned_and_naive_values_are_normalised() -> None:
    items = day_items()[:1]
    items[0]["paper"].update(id="2611.01001v3", publishedAt="2026-11-24T10:00:00", upvotes=True)
    paper = parse_daily_papers(encode(items)).papers[0]
    assert paper.id == "2611.01001"
    assert paper.published == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert paper.hf_upvotes == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(fixture_bytes(DAY_FILE)[:700], "response is not valid JSON", id="truncated"),
        pytest.param(b"", "response is not valid JSON", id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", "response is not valid JSON", id="not text"),
        pytest.param(
            b'{"error": "Invalid date"}', "expected a JSON list of papers, got dict", id="object"
        ),
    ],
)
def test_an_unreadable_body_raises_source_error(body: bytes, problem: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_daily_papers(body)
    assert str(caught.value).startswith(f"hf: {problem}")
    assert "\n" not in str(caught.value)


def source(client: httpx.AsyncClient, server: FakePaperServer, fake: FakeTime) -> HuggingFaceSource:
    policy = RetryPolicy(attempts=3, jitter=lambda: 0.0)
    return HuggingFaceSource(client, server.url, timeout=0.5, sleep=fake.sleep, retry=policy)


async def test_fetch_daily_asks_for_the_day_and_parses_it(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    result = await source(http_client, paper_server, FakeTime()).fetch_daily(date(2026, 11, 26))
    assert len(result.papers) == 5
    assert [(r.path, r.query) for r in paper_server.requests] == [(HF_PATH, {"date": "2026-11-26"})]


async def test_fetch_daily_for_a_quiet_day_is_empty(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    result = await source(http_client, paper_server, FakeTime()).fetch_daily(date(2026, 11, 29))
    assert result.papers == []


async def test_fetch_daily_rides_out_a_rate_limit(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(HF_PATH, status=429, headers={"Retry-After": "4"})
    fake = FakeTime()
    result = await source(http_client, paper_server, fake).fetch_daily(date(2026, 11, 26))
    assert len(result.papers) == 5
    assert fake.sleeps == [4.0]


async def test_fetch_daily_reports_truncated_json_with_one_log_line(
    http_client: httpx.AsyncClient,
    paper_server: FakePaperServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    paper_server.queue_response(HF_PATH, body=fixture_bytes(DAY_FILE)[:500])
    with (
        caplog.at_level(logging.WARNING, logger="bot.sources"),
        pytest.raises(SourceError) as caught,
    ):
        await source(http_client, paper_server, FakeTime()).fetch_daily(date(2026, 11, 26))
    assert str(caught.value).startswith("hf GET /api/daily_papers: response is not valid JSON")
    assert [r.getMessage() for r in caplog.records] == [str(caught.value)]


async def test_fetch_daily_gives_up_on_a_server_that_keeps_failing(
    http_client: httpx.AsyncClient,
    paper_server: FakePaperServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    paper_server.queue_response(HF_PATH, status=500, times=3)
    with (
        caplog.at_level(logging.WARNING, logger="bot.sources"),
        pytest.raises(SourceError) as caught,
    ):
        await source(http_client, paper_server, FakeTime()).fetch_daily(date(2026, 11, 26))
    expected = "hf GET /api/daily_papers: HTTP 500 Internal Server Error (gave up after 3 attempts)"
    assert str(caught.value) == expected
    assert [r.getMessage() for r in caplog.records] == [expected]
    assert len(paper_server.requests) == 3
