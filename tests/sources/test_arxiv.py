from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.sources.arxiv import ArxivQueryError, ArxivSource, parse_feed
from bot.sources.http import RetryPolicy, SourceError
from tests.fakes.paper_servers import ARXIV_PATH, FakePaperServer, FakeTime, fixture_bytes

CURRENT = "arxiv/query_current.xml"
OLD = "arxiv/query_old_format.xml"


def test_current_format_query() -> None:
    result = parse_feed(fixture_bytes(CURRENT))
    assert result.skipped == 0
    assert [(p.id, p.version) for p in result.papers] == [
        ("2611.01001", 2),
        ("2611.01003", 1),
        ("2611.01004", 3),
    ]
    first = result.papers[0]
    assert first.title.startswith("Propagate Yourself: Exploring Pixel-Level Consistency")
    assert first.abstract.startswith("Contrastive learning methods")
    assert first.authors == ("Alice Example", "Bob Example", "Zoë Ødegård")
    assert first.published == datetime(2026, 11, 24, tzinfo=UTC)
    assert first.categories == ("cs.CV", "cs.LG")
    assert first.sources == frozenset({"arxiv"})
    assert (first.on_hf, first.hf_upvotes, first.code_url) == (False, 0, None)


def test_primary_category_comes_first_without_repeats() -> None:
    second = parse_feed(fixture_bytes(CURRENT)).papers[1]
    assert second.categories == ("cs.CL", "cs.LG")


def test_wrapped_titles_are_joined() -> None:
    second = parse_feed(fixture_bytes(CURRENT)).papers[1]
    assert second.title == "Efficient Streaming Language Models with Attention Sinks"


def test_older_format_from_the_api_manual() -> None:
    result = parse_feed(fixture_bytes(OLD))
    assert [(p.id, p.version) for p in result.papers] == [
        ("2611.01005", 1),  # a versionless entry id counts as version 1
        ("math.GT/0601002", 2),
    ]
    first, second = result.papers
    assert first.title == "2D Matryoshka Sentence Embeddings"
    assert first.abstract.startswith("Common approaches rely on fixed-length embedding vectors")
    assert "\n" not in first.abstract
    assert first.published == datetime(2026, 11, 21, 11, 2, 45, tzinfo=UTC)  # from -05:00
    assert first.categories == ("cs.CL", "cs.IR")
    assert second.categories == ("math.GT", "math.AT")
    assert second.authors == ("Hélène Example",)


def test_non_ascii_authors_are_decoded_from_utf8_bytes() -> None:
    paper = parse_feed(fixture_bytes("arxiv/id_2611.01002.xml")).papers[0]
    assert paper.authors == ("Carol Example", "José Núñez", "Zoë Ødegård", "Jürgen Übermaß")


def test_old_style_id_with_escaped_abstract() -> None:
    paper = parse_feed(fixture_bytes("arxiv/id_astro-ph_0601001.xml")).papers[0]
    assert (paper.id, paper.version) == ("astro-ph/0601001", 1)
    assert paper.abs_url == "https://arxiv.org/abs/astro-ph/0601001"
    assert paper.abstract.startswith("A synthetic abstract")  # leading spaces gone
    assert "V_max<17.5 & 3--5 day periods" in paper.abstract
    assert paper.categories == ("astro-ph",)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("arxiv/error_bad_id.xml", "incorrect id format for 2611.1"),
        ("arxiv/error_old_format.xml", "incorrect id format for 2611.01001v"),
    ],
)
def test_error_feed_raises_with_arxivs_message(name: str, message: str) -> None:
    with pytest.raises(ArxivQueryError) as caught:
        parse_feed(fixture_bytes(name))
    assert str(caught.value) == f"arxiv: arXiv rejected the query: {message}"
    assert isinstance(caught.value, SourceError)


def test_empty_feed_has_no_papers() -> None:
    result = parse_feed(fixture_bytes("arxiv/empty.xml"))
    assert (result.papers, result.skipped) == ([], 0)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(fixture_bytes(CURRENT)[:1200], "response is not valid XML", id="cut in entry"),
        pytest.param(b"<feed", "response is not valid XML", id="cut in tag"),
        pytest.param(b'{"error": 1}', "response is not valid XML", id="json"),
        pytest.param(b"", "response is not an Atom feed", id="empty"),
        pytest.param(b"<html><body>Bad gateway</body></html>", "not an Atom feed", id="html"),
    ],
)
def test_broken_xml_raises_source_error(body: bytes, problem: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_feed(body)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_body_is_never_read_as_a_file_name(tmp_path: Path) -> None:
    # feedparser would open() a bytes argument that names a file; a hostile body must not.
    local = tmp_path / "feed.xml"
    local.write_bytes(fixture_bytes(CURRENT))
    with pytest.raises(SourceError):
        parse_feed(str(local).encode())


def test_damaged_feed_keeps_only_whole_entries(caplog: pytest.LogCaptureFixture) -> None:
    body = fixture_bytes(CURRENT)
    cut = body.index(b"</entry>") + len(b"</entry>") + 300  # inside the second entry
    with caplog.at_level(logging.WARNING, logger="bot.sources.arxiv"):
        result = parse_feed(body[:cut])
    assert [p.id for p in result.papers] == ["2611.01001"]
    assert "damaged" in caplog.text


def test_entries_missing_id_or_title_are_skipped() -> None:
    body = fixture_bytes(CURRENT)
    body = body.replace(b"<id>http://arxiv.org/abs/2611.01001v2</id>", b"", 1)
    body = body.replace(b"<title>Predictive Data Selection", b"<title>   </title><x>", 1)
    body = body.replace(b"Is the Data That Teaches</title>", b"</x>", 1)
    result = parse_feed(body)
    assert [p.id for p in result.papers] == ["2611.01003"]
    assert result.skipped == 2


def arxiv(
    client: httpx.AsyncClient,
    server: FakePaperServer,
    fake: FakeTime,
    *,
    timeout: float = 2.0,
    attempts: int = 3,
) -> ArxivSource:
    return ArxivSource(
        client,
        server.url,
        timeout=timeout,
        min_interval=3.0,
        clock=fake.clock,
        sleep=fake.sleep,
        retry=RetryPolicy(attempts=attempts, jitter=lambda: 0.0),
    )


async def test_search_sends_the_query_and_parses_the_feed(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    source = arxiv(http_client, paper_server, FakeTime())
    result = await source.search("cat:cs.CL OR cat:cs.CV", max_results=50)
    assert len(result.papers) == 3
    assert paper_server.requests[0].path == ARXIV_PATH
    assert paper_server.requests[0].query == {
        "search_query": "cat:cs.CL OR cat:cs.CV",
        "start": "0",
        "max_results": "50",
        "sortBy": "submittedDate",
        "sortOrder": "descending",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"search_query": "  "},
        {"search_query": "ti:x", "max_results": 0},
        {"search_query": "ti:x", "max_results": 2001},
        {"search_query": "ti:x", "sort_by": "upvotes"},
        {"search_query": "ti:x", "sort_order": "up"},
        {"search_query": "ti:x", "start": -1},
    ],
)
async def test_search_rejects_bad_arguments_without_a_request(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer, kwargs: dict[str, object]
) -> None:
    source = arxiv(http_client, paper_server, FakeTime())
    with pytest.raises(ValueError, match="must"):
        await source.search(**kwargs)  # type: ignore[arg-type]
    assert paper_server.requests == []


async def test_fetch_ids_asks_for_canonical_ids_once_each(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    source = arxiv(http_client, paper_server, FakeTime())
    wanted = ["2611.01002v1", "https://arxiv.org/abs/astro-ph/0601001v1", "arXiv:2611.01002"]
    result = await source.fetch_ids(wanted)
    assert [p.id for p in result.papers] == ["2611.01002", "astro-ph/0601001"]
    assert [r.query for r in paper_server.requests] == [
        {"id_list": "2611.01002,astro-ph/0601001", "max_results": "2"}
    ]


async def test_fetch_ids_of_unknown_papers_is_empty(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    result = await arxiv(http_client, paper_server, FakeTime()).fetch_ids(["2611.09999"])
    assert result.papers == []


async def test_fetch_ids_with_nothing_to_fetch_sends_nothing(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    result = await arxiv(http_client, paper_server, FakeTime()).fetch_ids([])
    assert result.papers == []
    assert paper_server.requests == []


@pytest.mark.parametrize("bad", ["sample-001", "not an id", ""])
async def test_fetch_ids_refuses_what_is_not_an_arxiv_id(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer, bad: str
) -> None:
    with pytest.raises(ValueError, match="not an arXiv id"):
        await arxiv(http_client, paper_server, FakeTime()).fetch_ids(["2611.01002", bad])
    assert paper_server.requests == []


async def test_fetch_ids_splits_long_lists_into_spaced_batches(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    fake = FakeTime()
    ids = [f"2611.0{n:04d}" for n in range(1000, 1205)]
    result = await arxiv(http_client, paper_server, fake).fetch_ids(ids)
    assert sorted(p.id for p in result.papers) == ["2611.01002"]
    assert [r.query["max_results"] for r in paper_server.requests] == ["100", "100", "5"]
    assert fake.sleeps == [3.0, 3.0]


async def test_arxiv_error_feed_over_http_is_not_retried(
    http_client: httpx.AsyncClient,
    paper_server: FakePaperServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    paper_server.queue_response(
        ARXIV_PATH, status=400, body=fixture_bytes("arxiv/error_bad_id.xml")
    )
    with (
        caplog.at_level(logging.WARNING, logger="bot.sources"),
        pytest.raises(ArxivQueryError) as caught,
    ):
        await arxiv(http_client, paper_server, FakeTime()).search("id:2611.1")
    expected = "arxiv GET /api/query: arXiv rejected the query: incorrect id format for 2611.1"
    assert str(caught.value) == expected
    assert [r.getMessage() for r in caplog.records] == [expected]
    assert len(paper_server.requests) == 1


async def test_a_400_without_an_error_feed_reports_the_status(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(ARXIV_PATH, status=400, body="<html>Bad Request</html>")
    with pytest.raises(SourceError) as caught:
        await arxiv(http_client, paper_server, FakeTime()).search("ti:x")
    assert str(caught.value) == "arxiv GET /api/query: HTTP 400 Bad Request"
    assert not isinstance(caught.value, ArxivQueryError)


async def test_broken_xml_over_http_fails_cleanly(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(ARXIV_PATH, body=fixture_bytes(CURRENT)[:900])
    with pytest.raises(SourceError, match=r"^arxiv GET /api/query: response is not valid XML"):
        await arxiv(http_client, paper_server, FakeTime()).search("ti:x")


async def test_requests_are_spaced_by_the_minimum_interval(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    fake = FakeTime()
    source = arxiv(http_client, paper_server, fake)
    await asyncio.gather(*(source.search(f"ti:{word}") for word in ("a", "b", "c")))
    assert len(paper_server.requests) == 3
    assert fake.sleeps == [3.0, 3.0]


async def test_retries_also_wait_their_turn(
    http_client: httpx.AsyncClient, paper_server: FakePaperServer
) -> None:
    paper_server.queue_response(ARXIV_PATH, status=503, headers={"Retry-After": "1"})
    fake = FakeTime()
    result = await arxiv(http_client, paper_server, fake).search("ti:x")
    assert len(result.papers) == 3
    assert fake.sleeps == [1.0, 2.0]  # Retry-After, then the rest of the 3 s spacing


async def test_real_requests_leave_spaced_apart(paper_server: FakePaperServer) -> None:
    interval = 0.2
    sent: list[float] = []

    async def note_send(request: httpx.Request) -> None:
        sent.append(time.monotonic())

    # Send times, not arrival times: arrivals carry scheduling noise from a loaded machine, while
    # the promise to arXiv is about when the client lets a request go.
    async with httpx.AsyncClient(trust_env=False, event_hooks={"request": [note_send]}) as client:
        source = ArxivSource(client, paper_server.url, timeout=2.0, min_interval=interval)
        await asyncio.gather(source.search("ti:a"), source.search("ti:b"), source.search("ti:c"))
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert len(paper_server.requests) == 3
    assert all(gap >= interval - 0.005 for gap in gaps), gaps


async def test_a_slow_server_is_retried_then_reported(
    http_client: httpx.AsyncClient,
    paper_server: FakePaperServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    paper_server.queue_response(ARXIV_PATH, delay=5.0, times=2)
    source = arxiv(http_client, paper_server, FakeTime(), timeout=0.2, attempts=2)
    with (
        caplog.at_level(logging.WARNING, logger="bot.sources"),
        pytest.raises(SourceError) as caught,
    ):
        await source.search("ti:x")
    expected = "arxiv GET /api/query: timed out after 0.2s (gave up after 2 attempts)"
    assert str(caught.value) == expected
    assert [r.getMessage() for r in caplog.records] == [expected]
    assert len(paper_server.requests) == 2
