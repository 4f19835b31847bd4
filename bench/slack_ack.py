"""Slack ack latency: fire N concurrent signed slash commands at the HTTP endpoint over loopback
and time each one until its ack (the HTTP answer Slack waits at most 3 seconds for).

The bot runs in a child process (its own event loop, as in production), on the bundled sample
papers, in single-workspace mode against a tiny fake Slack Web API (auth.test, response_url).

    .venv/bin/python -m bench.slack_ack                    # 500 concurrent commands
    .venv/bin/python -m bench.slack_ack --requests 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
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
DEFAULT_OUT = Path(__file__).resolve().parent / "out"


# -- the bot side (child process) ------------------------------------------------------------


async def _serve(workdir: Path) -> None:
    from adapters.slack_app.app import build_slack_app, serve_http
    from bot.commands import Paperboy
    from bot.config import Secret, Settings
    from bot.ingest import ingest_sample
    from bot.search import SearchIndex
    from bot.storage import Store

    fake = web.Application()
    fake.router.add_post("/api/auth.test", _auth_test)
    fake.router.add_post("/respond/{any}", _ok)
    fake_runner = web.AppRunner(fake, access_log=None)
    await fake_runner.setup()
    await web.TCPSite(fake_runner, "127.0.0.1", 0).start()
    fake_port = fake_runner.addresses[0][1]

    store = await Store.open(workdir / "bench.db")
    index = SearchIndex.open(workdir / "bench.index")
    await ingest_sample(store, index)
    settings = Settings(
        db_path=workdir / "bench.db", slack_bot_token=Secret("xoxb-bench"),
        slack_signing_secret=Secret(SECRET), slack_api_url=f"http://127.0.0.1:{fake_port}/api/",
    )  # fmt: skip
    app = build_slack_app(Paperboy(store, index), settings, store=store)
    server = await serve_http(app, "127.0.0.1", 0)
    print(f"PORT {server.port} RESPOND http://127.0.0.1:{fake_port}/respond/", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
    finally:
        await server.close()
        await fake_runner.cleanup()
        await store.close()


async def _auth_test(request: web.Request) -> web.Response:
    return web.json_response(
        {"ok": True, "team_id": "TBENCH", "user_id": "UBOT", "bot_id": "BBOT", "team": "Bench"}
    )


async def _ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


# -- the Slack side (this process) -----------------------------------------------------------


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


async def _round(url: str, respond: str, requests: int, rng: random.Random) -> dict[str, float]:
    bodies = []
    for n in range(requests):
        form = {
            "command": "/papers", "text": rng.choice(COMMANDS), "team_id": "TBENCH",
            "channel_id": f"C{n % 20:04d}", "user_id": f"U{n:05d}", "user_name": f"user{n}",
            "response_url": f"{respond}{n}", "trigger_id": f"t{n}",
        }  # fmt: skip
        bodies.append(_signed(form))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        start_line = asyncio.Event()

        async def one(body: bytes, headers: dict[str, str]) -> tuple[float, int, bool]:
            await start_line.wait()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                text = await response.text()
            elapsed = time.perf_counter() - started
            deferred = "Looking that up" in text
            return elapsed, response.status, deferred

        tasks = [asyncio.ensure_future(one(body, headers)) for body, headers in bodies]
        await asyncio.sleep(0.05)
        wall = time.perf_counter()
        start_line.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - wall
    latencies = sorted(r[0] * 1000 for r in results)
    failures = sum(1 for r in results if r[1] != 200)
    deferred = sum(1 for r in results if r[2])
    return {
        "requests": requests,
        "p50_ms": statistics.median(latencies),
        "p90_ms": latencies[int(0.90 * (len(latencies) - 1))],
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": latencies[-1],
        "mean_ms": statistics.fmean(latencies),
        "over_3s": sum(1 for ms in latencies if ms > 3000),
        "non_200": failures,
        "answered_later": deferred,
        "wall_s": wall,
        "per_s": requests / wall,
    }


async def _run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.slack_ack", "--serve", workdir,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert child.stdin is not None and child.stdout is not None
        try:
            line = (await child.stdout.readline()).decode()
            if not line.startswith("PORT "):
                raise SystemExit(f"bot did not start: {line!r}")
            _, port, _, respond = line.split()
            url = f"http://127.0.0.1:{port}/slack/events"
            rng = random.Random(args.seed)
            await _round(url, respond, 20, rng)  # warm up (auth.test, caches, connections)
            rounds = [await _round(url, respond, args.requests, rng) for _ in range(args.rounds)]
        finally:
            child.stdin.close()
            await asyncio.wait_for(child.wait(), 30)
    print(f"{args.requests} concurrent signed slash commands over loopback, {args.rounds} round(s)")
    print(f"{'round':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7} "
          f"{'>3s':>4} {'later':>5} {'!200':>4}")  # fmt: skip
    for n, r in enumerate(rounds, start=1):
        print(f"{n:>5} {r['p50_ms']:>8.1f} {r['p90_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['max_ms']:>8.1f} {r['per_s']:>7.0f} {r['over_3s']:>4.0f} "
              f"{r['answered_later']:>5.0f} {r['non_200']:>4.0f}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "slack_ack.json"
    target.write_text(json.dumps({"commands": COMMANDS, "rounds": rounds}, indent=2))
    print(f"written to {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
    else:
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
