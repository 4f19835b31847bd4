"""Paperboy workers as real processes (``paperboy run --slack-http``) talking to a fake Slack,
for the multi-worker tests and ``bench/scale_out.py``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.slack.fake_slack import FakeSlack
from tests.slack.workspace import SIGNING_SECRET, Workspace

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


@dataclass
class Worker:
    """One ``paperboy run --slack-http`` process; its log is kept for assertion messages."""

    name: str
    process: asyncio.subprocess.Process
    log: list[str] = field(default_factory=list)
    port: asyncio.Future[int] = field(default_factory=asyncio.Future)

    @property
    def token(self) -> str:
        """The bot token it posts with: the fake Slack tells the workers' posts apart by it."""
        return bot_token(self.name)

    async def read_log(self) -> None:
        assert self.process.stderr is not None
        while line := (await self.process.stderr.readline()).decode(errors="replace"):
            self.log.append(line)
            if (found := LISTENING.search(line)) and not self.port.done():
                self.port.set_result(int(found.group(1)))
        if not self.port.done():
            self.port.set_exception(RuntimeError(f"{self.name} exited:\n{''.join(self.log)}"))

    def tail(self) -> str:
        return "".join(self.log[-40:])


def bot_token(name: str) -> str:
    return f"xoxb-worker-{name}"


def worker_env(
    database: str, fake: FakeSlack, folder: Path, name: str, **settings: str
) -> dict[str, str]:
    """The environment of worker ``name``: ``database`` is a postgresql:// URL (the SQLite path
    is then unusable, so nothing can fall back to it) or a SQLite file's path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PAPERBOY_", "SLACK_", "DISCORD_", "DATABASE_URL"))}  # fmt: skip
    if database.startswith("postgresql://"):
        env.update(DATABASE_URL=database, PAPERBOY_DB="/dev/null/paperboy.db")
    else:
        env.update(PAPERBOY_DB=database)
    env.update(
        PAPERBOY_INDEX=str(folder / f"{name}.index"),
        PAPERBOY_HF_URL="http://127.0.0.1:9",  # nothing listens: fetches fail fast, offline
        PAPERBOY_ARXIV_URL="http://127.0.0.1:9",
        PAPERBOY_HTTP_TIMEOUT="2",
        PAPERBOY_DELIVERY_EVERY="1",
        PAPERBOY_DIGEST_LEASE="3",
        SLACK_BOT_TOKEN=bot_token(name),
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        PYTHONPATH=str(ROOT),
    )
    env.update(settings)
    return env


StartWorker = Callable[[str], Awaitable[Worker]]


@contextlib.asynccontextmanager
async def workers_on(
    database: str, fake: FakeSlack, folder: Path, **settings: str
) -> AsyncIterator[StartWorker]:
    """Start workers on ``database``; every one still running is stopped (SIGTERM) after."""
    started: list[tuple[Worker, asyncio.Task[None]]] = []

    async def start(name: str) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters", "run", "--slack-http", "--host", "127.0.0.1",
            "--port", "0", cwd=folder, env=worker_env(database, fake, folder, name, **settings),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        worker = Worker(name, process)
        started.append((worker, asyncio.create_task(worker.read_log())))
        await asyncio.wait_for(asyncio.shield(worker.port), 60)
        return worker

    try:
        yield start
    finally:
        for worker, _ in started:
            if worker.process.returncode is None:
                worker.process.terminate()
        for worker, reader in started:
            try:
                await asyncio.wait_for(worker.process.wait(), 20)
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()
            await reader


def workspace(http: aiohttp.ClientSession, fake: FakeSlack, worker: Worker) -> Workspace:
    """A Slack workspace sending signed requests to ``worker``."""
    return Workspace(http, f"http://127.0.0.1:{worker.port.result()}", fake)
