"""Slack request path: signed slash commands over loopback, timed until the ack (the HTTP answer
Slack waits at most 3 seconds for) and until the answer (in the ack, or on the response_url).

Two servers run side by side in the same run, each in its own process (its own event loop, as in
production): Paperboy, and a bare Bolt app (Bolt's own aiohttp server, one listener that acks at
once and answers on the response_url), which is the floor every figure is compared with. Rounds
alternate between the two, so a busy machine slows both alike; figures are medians over rounds.

Two loads:
  sequential  one ``/papers search …`` at a time (the latency a person feels)
  burst       ``--requests`` mixed commands with ``--in-flight`` at once (a busy workspace)

    .venv/bin/python -m bench.slack_ack                          # sample papers, both loads
    .venv/bin/python -m bench.slack_ack --papers 50000           # synthetic corpus (cached)
    .venv/bin/python -m bench.slack_ack --load sequential --sequential 400 --rounds 5
    .venv/bin/python -m bench.slack_ack --data bench/out/1000000 --embeddings wordllama \
        --queries mixed          # a corpus kept by bench.search --keep (1M papers, vectors)

``--queries mixed`` draws searches from bench/search.py's mix (very common words, phrases,
filters, questions, exclusions) instead of the five fixed ones, in both loads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

SECRET = "bench-signing-secret"
COMMANDS = (
    "help",
    "search attention",
    "search language models --share",
    "search diffusion -video",
    "trending week",
    "show sample-001",
    "vote sample-002",
    "subscriptions",
    "top week",
)
SEARCHES = ("attention", "language models", "diffusion -video", "graph neural", "reinforcement")
WORKING_TEXT = "Looking that up"
DEFAULT_OUT = Path(__file__).resolve().parent / "out"
SERVERS = ("bare", "paperboy")


# -- the bot side (child processes) ----------------------------------------------------------


def _files(workdir: Path) -> tuple[Path, Path]:
    """The database and index in ``workdir``: this bench's own, or a bench.search corpus."""
    if (workdir / "papers.db").is_file():
        return workdir / "papers.db", workdir / "papers.index"
    return workdir / "bench.db", workdir / "bench.index"


async def _serve_paperboy(workdir: Path, api_url: str, embeddings: str) -> None:
    from adapters.slack_app import build_slack_app, serve_http
    from bot.app import open_vectors
    from bot.commands import Paperboy
    from bot.config import Secret, Settings
    from bot.ingest import catch_up_index
    from bot.search import SearchIndex
    from bot.storage import Store

    db_path, index_path = _files(workdir)
    store = await Store.open(db_path)
    index = SearchIndex.open(index_path)
    # As the bot does on start: an index from another version is rebuilt before anything is timed.
    await catch_up_index(index, store)
    settings = Settings(
        db_path=db_path, index_path=index_path, slack_bot_token=Secret("xoxb-bench"),
        slack_signing_secret=Secret(SECRET), slack_api_url=api_url, embeddings=embeddings,
    )  # fmt: skip
    bot = Paperboy(store, index)
    await open_vectors(bot, settings)
    await bot.wait_for_vectors(None)  # time searches by words and meaning, not the catch-up
    if bot.vectors is not None:  # nor the compression of a large index at start
        await asyncio.to_thread(bot.vectors.prepare_search, wait=True)
    app = build_slack_app(bot, settings, store=store)
    server = await serve_http(app, "127.0.0.1", 0)
    print(f"PORT {server.port}", flush=True)
    try:
        await _until_stdin_closes()
    finally:
        await server.close()
        await store.close()


async def _serve_bare(api_url: str) -> None:
    """The smallest Bolt app that answers a slash command: ack, then answer on response_url."""
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.context.ack.async_ack import AsyncAck
    from slack_bolt.context.respond.async_respond import AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    # process_before_response: the HTTP answer goes out as soon as ack() returns; the default
    # would poll for the ack every 10 ms, and Paperboy does not pay that either.
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-bench", base_url=api_url), signing_secret=SECRET,
        process_before_response=True,
    )  # fmt: skip
    answering: set[asyncio.Task[Any]] = set()

    @app.command("/papers")
    async def papers(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        await ack()
        task = asyncio.create_task(respond(text=f"You asked for {command.get('text')!r}."))
        answering.add(task)
        task.add_done_callback(answering.discard)

    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    try:
        await _until_stdin_closes()
    finally:
        await runner.cleanup()


async def _until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- the Slack side (this process) -----------------------------------------------------------


@dataclass
class FakeSlackApi:
    """auth.test for the bots, and response_url endpoints that note when each answer arrived."""

    answers: dict[str, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/auth.test", self._auth_test)
        app.router.add_post("/respond/{name}", self._respond)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def respond_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    async def _auth_test(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": True, "team_id": "TBENCH", "user_id": "UBOT", "bot_id": "BBOT", "team": "Bench"}
        )

    async def _respond(self, request: web.Request) -> web.Response:
        await request.read()
        self.answers.setdefault(request.match_info["name"], time.perf_counter())
        self.arrived.set()
        return web.Response(text="ok")


def _signed(form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body = urlencode(form).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    return body, headers


@dataclass
class Round:
    acks_ms: list[float]
    answers_ms: list[float]
    non_200: int
    answered_later: int
    wall_s: float
    server_cpu_s: float = float("nan")

    def summary(self) -> dict[str, float]:
        acks, answers = sorted(self.acks_ms), sorted(self.answers_ms)
        return {
            "ack_p50": _pct(acks, 0.50), "ack_p95": _pct(acks, 0.95),
            "ack_p99": _pct(acks, 0.99), "ack_max": acks[-1],
            "answer_p50": _pct(answers, 0.50), "answer_p99": _pct(answers, 0.99),
            "over_3s": sum(1 for ms in acks if ms > 3000), "non_200": self.non_200,
            "later": self.answered_later, "per_s": len(acks) / self.wall_s,
            "cpu_ms": self.server_cpu_s * 1000 / len(acks),
        }  # fmt: skip


def _pct(ordered: Sequence[float], q: float) -> float:
    return ordered[round(q * (len(ordered) - 1))] if ordered else float("nan")


async def _round(
    session: aiohttp.ClientSession, url: str, fake: FakeSlackApi, texts: Sequence[str],
    in_flight: int, tag: str,
) -> Round:  # fmt: skip
    bodies = []
    for n, text in enumerate(texts):
        form = {
            "command": "/papers", "text": text, "team_id": "TBENCH",
            "channel_id": f"C{n % 20:04d}", "user_id": f"U{n:05d}", "user_name": f"user{n}",
            "response_url": fake.respond_url(f"{tag}-{n}"), "trigger_id": f"{tag}-{n}",
        }  # fmt: skip
        bodies.append(_signed(form))
    gate = asyncio.Semaphore(in_flight)
    sent: dict[int, float] = {}

    async def one(n: int, body: bytes, headers: dict[str, str]) -> tuple[float, int, str]:
        async with gate:
            sent[n] = started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                text = await response.text()
            return time.perf_counter() - started, response.status, text

    wall = time.perf_counter()
    results = await asyncio.gather(*(one(n, *b) for n, b in enumerate(bodies)))
    # Answers that come later (on the response_url) may still be on their way.
    later = [n for n, r in enumerate(results) if _answered_later(r[2])]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while True:
                fake.arrived.clear()  # before looking, so no arrival slips between the two
                if all(f"{tag}-{n}" in fake.answers for n in later):
                    break
                await fake.arrived.wait()
    wall = time.perf_counter() - wall
    answers = []
    for n, (elapsed, _, _) in enumerate(results):
        if n in later:
            arrived = fake.answers.get(f"{tag}-{n}")
            if arrived is not None:
                answers.append((arrived - sent[n]) * 1000)
        else:
            answers.append(elapsed * 1000)
    return Round(
        acks_ms=[r[0] * 1000 for r in results], answers_ms=answers,
        non_200=sum(1 for r in results if r[1] != 200), answered_later=len(later), wall_s=wall,
    )  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    """CPU time a server process has used (Linux): on a shared machine it varies far less than
    latency does, since waiting for a core is not counted."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _answered_later(ack_body: str) -> bool:
    """An empty ack (the bare app) or Paperboy's "looking that up" means the answer follows."""
    return not ack_body.strip() or WORKING_TEXT in ack_body


async def _start(
    kind: str, workdir: Path, api_url: str, embeddings: str
) -> tuple[asyncio.subprocess.Process, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.slack_ack", "--serve", kind, "--workdir", str(workdir),
        "--api-url", api_url, "--embeddings", embeddings,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert child.stdout is not None
    line = (await child.stdout.readline()).decode()
    if not line.startswith("PORT "):
        raise SystemExit(f"{kind} did not start: {line!r}")
    return child, f"http://127.0.0.1:{line.split()[1]}/slack/events"


async def _prepare(workdir: Path, papers: int) -> None:
    """The bot's database and index: the sample papers, plus ``papers`` synthetic ones (cached
    under bench/out, since 50,000 papers take a while to ingest)."""
    from bot.ingest import ingest_papers, ingest_sample
    from bot.search import SearchIndex
    from bot.storage import Store

    store = await Store.open(workdir / "bench.db")
    index = SearchIndex.open(workdir / "bench.index")
    try:
        await ingest_sample(store, index)
        if papers:
            from bench.corpus import Corpus, Vocabulary

            for batch in Corpus(Vocabulary.load()).batches(papers, 2000):
                await ingest_papers(store, index, batch)
                print(".", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
    finally:
        await store.close()


def _searches(args: argparse.Namespace) -> Sequence[str]:
    if args.queries == "fixed":
        return SEARCHES
    from bench.corpus import Corpus, Vocabulary
    from bench.search import make_queries

    return [text for _, text in make_queries(Corpus(Vocabulary.load()), 1000)]


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = args.data or args.out / f"slack_ack_{args.papers}"
    if not args.prepared:
        await _prepare(workdir, args.papers)
    fake = FakeSlackApi()
    await fake.start()
    children = {
        kind: await _start(kind, workdir, fake.api_url, args.embeddings) for kind in SERVERS
    }
    rng = random.Random(args.seed)
    searches = _searches(args)
    loads: dict[str, tuple[list[str], int]] = {}
    if args.load in {"both", "sequential"}:
        texts = [f"search {rng.choice(searches)}" for _ in range(args.sequential)]
        loads["sequential"] = (texts, 1)
    if args.load in {"both", "burst"}:
        burst = [rng.choice(COMMANDS) for _ in range(args.requests)]
        if args.queries == "mixed":  # the burst's searches from the same mix
            burst = [f"search {rng.choice(searches)}" if c.startswith("search ") else c
                     for c in burst]  # fmt: skip
        loads["burst"] = (burst, args.in_flight)
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        load: {kind: [] for kind in SERVERS} for load in loads
    }
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            for kind, (_, url) in children.items():  # warm up: auth.test, caches, connections
                await _round(session, url, fake, ["help", "search attention"] * 10, 4, f"w{kind}")
            for number in range(args.rounds):
                for load, (texts, in_flight) in loads.items():
                    for kind, (_, url) in children.items():
                        tag = f"{load}-{kind}-{number}"
                        child = children[kind][0]
                        cpu = _cpu_seconds(child.pid)
                        done = await _round(session, url, fake, texts, in_flight, tag)
                        done.server_cpu_s = _cpu_seconds(child.pid) - cpu
                        results[load][kind].append(done.summary())
    finally:
        for child, _ in children.values():
            assert child.stdin is not None
            child.stdin.close()
            await asyncio.wait_for(child.wait(), 30)
        assert fake.runner is not None
        await fake.runner.cleanup()
    return results


def _report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    papers = f"{args.papers:,} synthetic + sample papers" if args.papers else "sample papers"
    if args.data:
        papers = f"the corpus in {args.data}"
    print(f"Signed slash commands over loopback, {papers}, {args.rounds} round(s); "
          "medians over rounds (ms)")  # fmt: skip
    columns = ("ack_p50", "ack_p95", "ack_p99", "ack_max", "answer_p50", "answer_p99")
    for load, by_kind in results.items():
        size = args.sequential if load == "sequential" else args.requests
        in_flight = 1 if load == "sequential" else args.in_flight
        print(f"\n{load}: {size} requests, {in_flight} in flight")
        print(f"{'':>10}" + "".join(f"{c:>11}" for c in columns)
              + f"{'>3s':>5}{'!200':>5}{'later':>6}{'req/s':>7}{'cpu ms/req':>11}")  # fmt: skip
        medians = {
            kind: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
            for kind, rounds in by_kind.items()
        }
        for kind in SERVERS:
            m = medians[kind]
            print(f"{kind:>10}" + "".join(f"{m[c]:>11.1f}" for c in columns)
                  + f"{m['over_3s']:>5.0f}{m['non_200']:>5.0f}{m['later']:>6.0f}"
                  f"{m['per_s']:>7.0f}{m['cpu_ms']:>11.2f}")  # fmt: skip
        bare, ours = medians["bare"], medians["paperboy"]
        print(f"{'ratio':>10}" + "".join(f"{ours[c] / bare[c]:>10.2f}x" for c in columns)
              + " " * 23 + f"{ours['cpu_ms'] / bare['cpu_ms']:>10.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=0, help="synthetic papers besides the sample")
    parser.add_argument("--load", choices=("both", "sequential", "burst"), default="both")
    parser.add_argument("--sequential", type=int, default=300, help="requests, one at a time")
    parser.add_argument("--requests", type=int, default=500, help="requests in the burst")
    parser.add_argument("--in-flight", type=int, default=100, help="burst requests at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--embeddings",
        default="off",
        help="PAPERBOY_EMBEDDINGS for Paperboy: off (words only) or wordllama (words and meaning)",
    )
    parser.add_argument("--queries", choices=("fixed", "mixed"), default="fixed",
                        help="five fixed searches, or bench/search.py's mix")  # fmt: skip
    parser.add_argument("--data", type=Path, help="a corpus kept by bench.search --keep")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "paperboy":
        asyncio.run(_serve_paperboy(args.workdir, args.api_url, args.embeddings))
    elif args.serve == "bare":
        asyncio.run(_serve_bare(args.api_url))
    else:
        workdir = args.data or args.out / f"slack_ack_{args.papers}"
        args.prepared = _files(workdir)[0].is_file()
        workdir.mkdir(parents=True, exist_ok=True)
        results = asyncio.run(_run(args))
        _report(args, results)
        args.out.mkdir(parents=True, exist_ok=True)
        target = args.out / "slack_ack.json"
        target.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)},
                                      "results": results}, indent=2, default=str))  # fmt: skip
        print(f"\nwritten to {target}")


if __name__ == "__main__":
    main()
