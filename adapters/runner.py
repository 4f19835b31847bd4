"""``paperboy run``: every configured platform in one process, plus the scheduled jobs.

Slack (Socket Mode, or HTTP with ``--slack-http``) when its tokens are set, Discord when
``DISCORD_TOKEN`` is set, and the console when neither is: digests then post to the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from adapters.console import ConsolePoster, run_console
from adapters.metrics_http import serve_metrics
from bot.app import App, open_app
from bot.config import ConfigError, Settings
from bot.delivery import DigestDelivery
from bot.ingest import follow_changes, ingest_hf, ingest_sample
from bot.jobs import BackgroundJobs
from bot.ports import Poster
from bot.storage import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    slack_http: bool = False
    host: str = "0.0.0.0"
    port: int = 3000
    metrics_port: int | None = None  # /metrics alone, for a worker without --slack-http


def slack_configured(settings: Settings) -> bool:
    return bool(settings.slack_bot_token or settings.slack_client_id)


async def run_bot(settings: Settings, options: RunOptions) -> None:
    async with open_app(settings) as app, AsyncExitStack() as stack:
        if options.metrics_port is not None:
            metrics = await serve_metrics(options.host, options.metrics_port)
            stack.push_async_callback(metrics.cleanup)
            log.info("metrics on %s:%d/metrics", options.host, options.metrics_port)
        posters: dict[str, Poster] = {}
        lifelines: list[asyncio.Task[None]] = []  # end when a platform connection dies
        if slack_configured(settings) or options.slack_http:
            posters["slack"] = await _start_slack(app, options, stack)
        if settings.discord_token:
            posters["discord"], gateway = await _start_discord(app, stack)
            lifelines.append(gateway)
        console = not posters
        if console:
            posters["console"] = ConsolePoster()
            await _papers_to_talk_about(app)
        await stack.enter_async_context(_scheduled_jobs(app, posters))
        if app.store.dialect == "postgresql":
            await stack.enter_async_context(_following_changes(app))
        if console:
            log.info("no Slack or Discord tokens set: running the console (see README)")
            await run_console(app.bot)
        else:
            await _until_stopped(lifelines)


async def _papers_to_talk_about(app: App) -> None:
    """A console on an empty database fetches today's papers, or loads the sample when offline."""
    if await app.store.count_papers():
        return
    report = await ingest_hf(app.store, app.index, app.hf, utc_now().date())
    if not report.ok or not report.fetched:
        sample = await ingest_sample(app.store, app.index)
        log.warning("no papers yet and none from Hugging Face: loaded the %d sample papers",
                    sample.fetched)  # fmt: skip


async def _start_slack(app: App, options: RunOptions, stack: AsyncExitStack) -> Poster:
    from adapters.slack_app import SlackPoster, build_slack_app, serve_http, start_socket_mode

    settings = app.settings
    slack = build_slack_app(app.bot, settings, store=app.store)
    if options.slack_http:
        server = await serve_http(slack, options.host, options.port)
        stack.push_async_callback(server.close)
        log.info("Slack over HTTP on %s:%d (/slack/events, /healthz)", options.host, options.port)
    elif settings.slack_app_token:
        connection = await start_socket_mode(slack, settings.slack_app_token.value)
        stack.push_async_callback(connection.close)
        log.info("Slack connected in Socket Mode")
    else:
        raise ConfigError(
            "Slack needs SLACK_APP_TOKEN (xapp-…) for Socket Mode, or `paperboy run --slack-http` "
            "with SLACK_SIGNING_SECRET for HTTP mode."
        )
    return SlackPoster.for_app(slack)


async def _start_discord(app: App, stack: AsyncExitStack) -> tuple[Poster, asyncio.Task[None]]:
    from adapters.discord_app import DiscordPoster, build_discord_client, start_discord

    assert app.settings.discord_token is not None
    client = build_discord_client(app.bot, app.settings)
    connection = await start_discord(client, app.settings.discord_token.value)
    stack.push_async_callback(connection.close)
    return DiscordPoster(client), connection.task


@contextlib.asynccontextmanager
async def _scheduled_jobs(app: App, posters: dict[str, Poster]) -> AsyncIterator[BackgroundJobs]:
    lease = timedelta(seconds=app.settings.digest_lease)
    delivery = DigestDelivery(app.store, posters, lease=lease, vectors=app.bot.vectors)
    jobs = BackgroundJobs(app, delivery, clock=utc_now)
    # APScheduler logs every run of the every-minute delivery job at INFO; our jobs log outcomes.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.root.level))
    scheduler = AsyncIOScheduler(timezone=UTC)
    jobs.schedule(scheduler)
    scheduler.start()
    try:
        yield jobs
    finally:
        scheduler.shutdown(wait=False)


@contextlib.asynccontextmanager
async def _following_changes(app: App) -> AsyncIterator[None]:
    """Other workers ingest too: keep this worker's search index caught up with them.
    (On SQLite one process writes papers and the index together; nothing to follow.)"""
    follower = asyncio.create_task(follow_changes(app.index, app.store), name="follow-changes")
    try:
        yield
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


async def _until_stopped(lifelines: list[asyncio.Task[None]]) -> None:
    """Wait for SIGINT or SIGTERM (how process managers stop us), or a platform connection's end.

    A dead gateway ends the process with an error, so the process manager restarts it rather
    than leaving a bot that looks up but answers nobody.
    """
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    waiter = asyncio.create_task(stopped.wait())
    try:
        done, _ = await asyncio.wait([waiter, *lifelines], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if waiter not in done:
        raise PlatformGone("a platform connection ended unexpectedly; exiting so it restarts")
    log.info("stopping")


class PlatformGone(RuntimeError):
    """A platform's connection ended while the bot was meant to be running."""
