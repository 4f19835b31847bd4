"""A real local HTTP server speaking Hugging Face Daily Papers and the arXiv API.

It binds 127.0.0.1 on port 0, serves the project's fixtures by default, records every request,
and can be scripted per test with :meth:`FakePaperServer.queue_response`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import pytest_asyncio
from aiohttp import web

from bot.ids import parse_paper_ref

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HF_PATH = "/api/daily_papers"
ARXIV_PATH = "/api/query"
HF_DAY = "2026-11-26"  # the day tests/fixtures/hf has papers for
JSON_TYPE = "application/json; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"

_ENTRY = re.compile(rb"  <entry>.*?</entry>\n", re.DOTALL)
# Building a default TLS context costs ~40 ms; one for the whole run keeps tests quick.
_TLS = ssl.create_default_context()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    query: dict[str, str]
    at: float  # time.monotonic() when the request arrived


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    status: int = 200
    body: bytes | None = None  # None: what the server would have sent unscripted
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeTime:
    """A clock and a sleep for sources: sleeping records the wait and moves the clock on."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


class FakePaperServer:
    """Start with ``async with FakePaperServer() as server``; requests go to ``server.url``."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._scripts: defaultdict[str, deque[ScriptedResponse]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.holding = asyncio.Event()  # set once a slow (delayed) answer is being held back
        self.url = ""

    async def __aenter__(self) -> FakePaperServer:
        app = web.Application()
        app.router.add_get(HF_PATH, self._daily_papers)
        app.router.add_get(ARXIV_PATH, self._query)
        # Handlers end when the client gives up, and shutdown does not wait on slow ones.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def queue_response(
        self,
        path: str,
        *,
        status: int = 200,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` this way, then go back to fixtures."""
        if path not in (HF_PATH, ARXIV_PATH):
            raise ValueError(f"the fake serves {HF_PATH} and {ARXIV_PATH}, not {path!r}")
        raw = body.encode("utf-8") if isinstance(body, str) else body
        script = ScriptedResponse(status, raw, dict(headers or {}), delay)
        self._scripts[path].extend([script] * times)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    async def _daily_papers(self, request: web.Request) -> web.StreamResponse:
        day = request.query.get("date", HF_DAY)
        file = FIXTURES / "hf" / f"daily_papers_{day}.json"
        default = file.read_bytes() if file.is_file() else b"[]"
        return await self._respond(request, default, JSON_TYPE)

    async def _query(self, request: web.Request) -> web.StreamResponse:
        return await self._respond(request, _arxiv_default(request.query), ATOM_TYPE)

    async def _respond(
        self, request: web.Request, default: bytes, content_type: str
    ) -> web.StreamResponse:
        self.requests.append(RecordedRequest(request.path, dict(request.query), time.monotonic()))
        queue = self._scripts[request.path]
        script = queue.popleft() if queue else ScriptedResponse()
        if script.delay:
            await self._pause(script.delay)
        headers = {"Content-Type": content_type, **script.headers}
        body = default if script.body is None else script.body
        return web.Response(status=script.status, body=body, headers=headers)

    async def _pause(self, seconds: float) -> None:
        # Waking on close keeps a "slow server" test from holding up teardown.
        self.holding.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)


def _arxiv_default(query: Mapping[str, str]) -> bytes:
    """A search gets the multi-entry fixture; an id_list gets the entries of known ids."""
    ids = [part for part in query.get("id_list", "").split(",") if part]
    if not ids:
        return fixture_bytes("arxiv/query_current.xml")
    entries: list[bytes] = []
    for raw in ids:
        ref = parse_paper_ref(raw)
        file = FIXTURES / "arxiv" / f"id_{ref.id.replace('/', '_')}.xml" if ref else None
        if file is not None and file.is_file():
            entries.extend(_ENTRY.findall(file.read_bytes()))
    # Unknown ids are simply absent, as on arXiv.
    return fixture_bytes("arxiv/empty.xml").replace(b"</feed>", b"".join(entries) + b"</feed>")


@pytest_asyncio.fixture
async def paper_server() -> AsyncIterator[FakePaperServer]:
    async with FakePaperServer() as server:
        yield server


@pytest_asyncio.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy set in the environment must not see requests to the fake server.
    async with httpx.AsyncClient(trust_env=False, verify=_TLS) as client:
        yield client
