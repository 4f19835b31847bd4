"""Slack message events: what the ``channels:history`` subscription costs per message.

With thread replies counted, Slack sends Paperboy every message in the channels it is in. This
times, over loopback in one process, signed ``message`` events until Slack's HTTP 200 and until
the reply is counted (the work after the ack): a plain message, a reply under a message that
shows no paper, and a reply under a paper Paperboy knows. Medians over rounds.

    .venv/bin/python -m bench.slack_events                 # 300 events of each kind, 5 rounds
    .venv/bin/python -m bench.slack_events --events 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.slack_app import build_slack_app, serve_http
from adapters.slack_app.http import EVENTS_PATH
from bot.app import App, open_app
from bot.config import Secret, Settings
from bot.ingest import ingest_sample
from bot.models import ChannelRef
from tests.slack.fake_slack import FakeSlack

SECRET = "bench-signing-secret"
TEAM, CHANNEL = "T0001", "C0001"
PAPER_MESSAGE = "1700000000.000100"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256)
    return raw, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                 "X-Slack-Signature": f"v0={digest.hexdigest()}"}  # fmt: skip


def message(n: int, kind: str) -> dict[str, Any]:
    ts = f"{1700000001 + n}.{n % 1000000:06d}"
    event: dict[str, Any] = {"type": "message", "channel": CHANNEL, "user": f"U{n % 50}",
                             "text": "hello", "ts": ts, "event_ts": ts}  # fmt: skip
    if kind != "plain":
        event["thread_ts"] = PAPER_MESSAGE if kind == "paper reply" else "1600000000.000001"
    return {"team_id": TEAM, "api_app_id": "A1", "type": "event_callback", "event": event,
            "event_id": f"Ev{kind[0]}{n}", "event_time": int(time.time())}  # fmt: skip


async def run(events: int, rounds: int) -> dict[str, list[float]]:
    fake = await FakeSlack.start()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            db_path=Path(folder) / "p.db", index_path=Path(folder) / "idx",
            slack_bot_token=Secret("xoxb-bench"), slack_signing_secret=Secret(SECRET),
            slack_api_url=fake.api_url,
        )  # fmt: skip
        async with open_app(settings) as app:
            return await _measure(app, settings, fake, events, rounds)


async def _measure(app: App, settings: Settings, fake: FakeSlack, events: int, rounds: int
                   ) -> dict[str, list[float]]:  # fmt: skip
    timings: dict[str, list[float]] = {}
    try:
        await ingest_sample(app.store, app.index)
        paper = (await app.store.papers_published_since(EPOCH, limit=1))[0]
        here = ChannelRef("slack", TEAM, CHANNEL)
        await app.store.remember_message(here, PAPER_MESSAGE, paper.id)
        slack = build_slack_app(app.bot, settings, store=app.store)
        server = await serve_http(slack, "127.0.0.1", 0)
        async with aiohttp.ClientSession() as session:
            for round_ in range(rounds):
                for kind in ("plain", "other reply", "paper reply"):
                    acks, started = [], time.perf_counter()
                    for n in range(events):
                        body, headers = signed(message(round_ * events + n, kind))
                        sent = time.perf_counter()
                        async with session.post(server.url + EVENTS_PATH, data=body,
                                                headers=headers) as answer:  # fmt: skip
                            assert answer.status == 200
                        acks.append(time.perf_counter() - sent)
                    await slack.drain()
                    whole = (time.perf_counter() - started) / events
                    timings.setdefault(f"{kind}: ack", []).append(statistics.median(acks))
                    timings.setdefault(f"{kind}: per event, counted", []).append(whole)
        counted = await app.store.most_discussed(here, EPOCH)
        await server.close()
    finally:
        await fake.close()
    print(f"replies counted for the paper: {counted[0][1] if counted else 0}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    timings = asyncio.run(run(args.events, args.rounds))
    print(f"{args.events} events of each kind, {args.rounds} rounds; medians over rounds:")
    for name, values in timings.items():
        print(f"  {name:32s} {statistics.median(values) * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
