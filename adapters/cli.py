"""The ``paperboy`` command line: the console bot, ingest, search, digests and maintenance."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.progress import Progress

from adapters.console import CONSOLE_CHANNEL, ConsolePoster, render, run_console
from bot import export, logs
from bot.app import App, open_app
from bot.commands import UserError, status_lines
from bot.config import ConfigError, Settings
from bot.digests import next_daily_digest
from bot.ids import parse_paper_ref
from bot.ingest import IngestReport, ingest_arxiv, ingest_file, ingest_hf, ingest_sample
from bot.models import ChannelRef
from bot.query import QueryError
from bot.replies import PaperList
from bot.storage import StorageError, utc_now

T = TypeVar("T")
# Searches from the command line give vectors this long to catch up (ingests compute them all).
VECTOR_WAIT = 5.0

app = typer.Typer(
    help="Paperboy: research papers where your team already talks.", no_args_is_help=False
)
ingest_app = typer.Typer(help="Fetch papers into the database.")
index_app = typer.Typer(help="Maintain the search index.")
db_app = typer.Typer(help="Maintain the database.")
app.add_typer(ingest_app, name="ingest")
app.add_typer(index_app, name="index")
app.add_typer(db_app, name="db")

log = logging.getLogger("paperboy")


def main() -> None:
    app()


def _settings(*, service: bool = False) -> Settings:
    """Settings from the environment; one-shot commands log warnings only unless told otherwise."""
    try:
        settings = Settings.from_environ()
    except ConfigError as error:
        raise _fail(str(error)) from None
    explicit = "PAPERBOY_LOG_LEVEL" in os.environ
    logs.configure(
        settings.log_level if service or explicit else logging.WARNING, settings.log_format
    )
    # At DEBUG aiosqlite logs SQL parameters, and those include workspace bot tokens.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.root.level))
    return settings


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"paperboy: {message}", err=True, fg="red")
    raise typer.Exit(code)


def _run(work: Callable[[App], Awaitable[T]], *, embed: bool = False, vectors: bool = True) -> T:
    """Open the app, run ``work`` with it, and turn known failures into one clear line.

    ``embed``: also compute the vectors of what ``work`` stored before exiting (ingests), so
    the next search finds the new papers by meaning too. ``vectors=False``: ``work`` never
    searches, so the embedding model is not loaded.
    """
    settings = _settings()

    async def go() -> T:
        async with open_app(settings, vectors=vectors) as opened:
            result = await work(opened)
            if embed:
                opened.bot.start_vector_catch_up()
                await opened.bot.wait_for_vectors(None)
            return result

    try:
        return asyncio.run(go())
    except StorageError as error:
        raise _fail(str(error)) from None


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command()
def console(user: Annotated[str, typer.Option(help="Your name in the chat.")] = "you") -> None:
    """Chat with Paperboy in this terminal as one user in #general (reads stdin when piped)."""
    _run(lambda opened: run_console(opened.bot, user=user))


@app.command()
def demo(user: Annotated[str, typer.Option(help="Your name in the chat.")] = "you") -> None:
    """Load the bundled sample papers into an empty database, then open the console."""

    async def work(opened: App) -> None:
        if await opened.store.count_papers() == 0:
            report = await ingest_sample(opened.store, opened.index)
            typer.echo(f"Loaded the bundled sample: {report.summary()}", err=True)
        await run_console(opened.bot, user=user)

    _run(work)


@app.command()
def search(
    query: Annotated[
        list[str], typer.Argument(help='Words, "phrases", -exclude, OR, author:, cat:, since:')
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
) -> None:
    """Search stored papers, best match first."""

    async def work(opened: App) -> None:
        await opened.bot.wait_for_vectors(VECTOR_WAIT)
        try:
            result = await opened.bot.search(CONSOLE_CHANNEL, " ".join(query), limit=limit)
        except (QueryError, UserError) as error:
            raise _fail(str(error), code=1) from None
        _print_papers(result, as_json)

    _run(work)


@app.command()
def similar(
    paper: Annotated[str, typer.Argument(help="An arXiv id or an arxiv.org / HF papers link.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
) -> None:
    """Papers like this one, most alike first."""
    ref = parse_paper_ref(paper)
    if ref is None:
        raise _fail(f"{paper!r} is not an arXiv id or a paper link.", code=1)

    async def work(opened: App) -> None:
        await opened.bot.wait_for_vectors(VECTOR_WAIT)
        try:
            result = await opened.bot.similar(CONSOLE_CHANNEL, ref.id, limit=limit)
        except UserError as error:
            raise _fail(str(error), code=1) from None
        _print_papers(result, as_json)

    _run(work)


def _print_papers(result: PaperList, as_json: bool) -> None:
    if not as_json:
        typer.echo(render(result))
        return
    for line in result.intro:  # e.g. a typo read as another word: for people, beside the JSON
        typer.echo(line, err=True)
    rows = [
        {
            "id": card.paper.id,
            "title": card.paper.title,
            "authors": list(card.paper.authors),
            "published": card.paper.published.date().isoformat(),
            "upvotes": card.paper.hf_upvotes,
            "team_votes": card.team_votes,
            "score": card.score,
            "url": card.paper.abs_url,
            "categories": list(card.paper.categories),
            "snippet": card.excerpt.text,
        }
        for card in result.cards
    ]
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))


@app.command()
def digest(
    channel: Annotated[
        str, typer.Argument(help="platform:workspace:channel, or #name for the console.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print it; record nothing as posted.")
    ] = False,
) -> None:
    """Build a channel's daily picks now and post them (or just print them with --dry-run)."""
    try:
        ref = _channel(channel)
    except ValueError as error:
        raise _fail(str(error)) from None

    async def work(opened: App) -> None:
        now = utc_now()
        built = await next_daily_digest(opened.store, ref, now, opened.bot.vectors)
        if dry_run or ref.platform != "console":
            typer.echo(render(built.reply))
            if not dry_run:
                typer.echo(
                    f"(Posting to {ref.platform} needs the running bot: `paperboy run`.)", err=True
                )
            return
        await ConsolePoster().post(ref, built.reply)
        await opened.store.record_posts(ref, built.paper_ids, built.kind, now=now)

    _run(work)


def _channel(text: str) -> ChannelRef:
    if text.startswith("#"):
        return ChannelRef(CONSOLE_CHANNEL.platform, CONSOLE_CHANNEL.workspace, text[1:])
    return ChannelRef.parse(text)


def _report(report: IngestReport) -> None:
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@ingest_app.command("hf")
def ingest_hf_command(
    day: Annotated[
        str | None, typer.Option("--date", help="YYYY-MM-DD (default: today, UTC).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A saved /api/daily_papers response.")
    ] = None,
) -> None:
    """Fetch Hugging Face Daily Papers for a day (or read a saved response)."""
    wanted = _parse_day(day)

    async def work(opened: App) -> IngestReport:
        if file is not None:
            return await _with_progress(ingest_file(opened.store, opened.index, "hf", file))
        return await ingest_hf(opened.store, opened.index, opened.hf, wanted)

    _report(_run(work, embed=True))


@ingest_app.command("arxiv")
def ingest_arxiv_command(
    query: Annotated[
        str, typer.Option("--query", help="arXiv search_query, e.g. cat:cs.CL")
    ] = "cat:cs.LG",
    file: Annotated[
        Path | None, typer.Option("--file", help="A saved /api/query Atom response.")
    ] = None,
    max_results: Annotated[int, typer.Option("--max", min=1, max=2000)] = 100,
) -> None:
    """Fetch the newest arXiv papers for a query (or read a saved response)."""

    async def work(opened: App) -> IngestReport:
        if file is not None:
            return await _with_progress(ingest_file(opened.store, opened.index, "arxiv", file))
        return await ingest_arxiv(opened.store, opened.index, opened.arxiv, query, max_results)

    _report(_run(work, embed=True))


@ingest_app.command("sample")
def ingest_sample_command() -> None:
    """Load the bundled sample papers (works offline)."""
    _report(_run(lambda opened: ingest_sample(opened.store, opened.index), embed=True))


async def _with_progress(work: Coroutine[Any, Any, IngestReport]) -> IngestReport:
    if not sys.stderr.isatty():
        return await work
    with Progress(transient=True) as progress:
        progress.add_task("Ingesting…", total=None)
        return await work


def _parse_day(text: str | None) -> date:
    if text is None:
        return utc_now().date()
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise _fail(f"--date must look like 2026-11-27, got {text!r}") from None


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Recreate the search index from the database."""

    async def work(opened: App) -> tuple[int, int | None]:
        count = await opened.index.rebuild(opened.store)
        vectors = opened.bot.vectors
        if vectors is None:
            return count, None
        await opened.bot.stop_background()
        return count, await vectors.rebuild(opened.store)

    count, embedded = _run(work)
    typer.echo(f"Search index rebuilt: {count} papers.")
    if embedded is not None:
        typer.echo(f"Vectors recomputed: {embedded} papers.")


@db_app.command("backup")
def db_backup(path: Annotated[Path, typer.Argument(help="Where to write the copy.")]) -> None:
    """Write a consistent copy of the database (safe while the bot runs)."""
    _run(lambda opened: opened.store.backup(path), vectors=False)
    typer.echo(f"Backed up to {path}.")


@db_app.command("copy")
def db_copy(
    to: Annotated[
        str, typer.Option("--to", help="The PostgreSQL database: postgresql://user@host/db")
    ],
) -> None:
    """Copy this install's SQLite database (PAPERBOY_DB) into PostgreSQL; safe to run again."""
    from bot.database import is_postgres_url
    from bot.dbcopy import copy_sqlite_to_postgres

    if not is_postgres_url(to):
        raise _fail("--to must be a postgresql:// URL")
    settings = _settings()
    try:
        reports = asyncio.run(
            copy_sqlite_to_postgres(
                settings.db_path, to, progress=lambda report: typer.echo(report.summary())
            )
        )
    except StorageError as error:
        raise _fail(str(error)) from None
    copied = sum(report.copied for report in reports)
    typer.echo(f"Copied {copied} rows from {settings.db_path} into PostgreSQL.")


@app.command()
def status(
    channel: Annotated[
        str | None, typer.Argument(help="Also show this channel's next digest.")
    ] = None,
) -> None:
    """Last fetch per source, last error, papers stored, and a channel's next digest."""
    try:
        ref = _channel(channel) if channel else None
    except ValueError as error:
        raise _fail(str(error)) from None

    async def work(opened: App) -> list[str]:
        return await status_lines(opened.store, ref, utc_now(), opened.bot.search_status)

    typer.echo("\n".join(_run(work)))


@app.command("export")
def export_command(
    channel: Annotated[
        str,
        typer.Argument(help="Whose team: platform:workspace:channel, or #name for the console."),
    ] = f"#{CONSOLE_CHANNEL.channel}",
    fmt: Annotated[str, typer.Option("--format", help="bibtex or csv.")] = "bibtex",
    saved_by: Annotated[
        str | None, typer.Option("--saved-by", help="This person's reading list instead.")
    ] = None,
) -> None:
    """Print the team's upvoted papers (most votes first), or a reading list, as BibTeX or CSV."""
    try:
        ref = _channel(channel)
        name = export.parse_format(fmt)
    except export.UnknownFormat:
        raise _fail(f"--format must be bibtex or csv, got {fmt!r}") from None
    except ValueError as error:
        raise _fail(str(error)) from None

    async def work(opened: App) -> list[export.ExportItem]:
        if saved_by is not None:
            return await export.reading_list_items(opened.store, ref, saved_by)
        return await export.team_items(opened.store, ref)

    items = _run(work, vectors=False)
    if not items:
        whose = (
            f"{saved_by}'s reading list is empty" if saved_by else "Nobody has upvoted a paper yet"
        )
        raise _fail(f"{whose} in {ref}: nothing to export.", code=1)
    sys.stdout.write(export.render(items, name))


@app.command()
def run(
    slack_http: Annotated[
        bool,
        typer.Option(
            "--slack-http", help="Serve Slack over HTTP (Events API) instead of Socket Mode."
        ),
    ] = False,
    port: Annotated[int, typer.Option(envvar="PORT", help="HTTP port for --slack-http.")] = 3000,
    host: Annotated[str, typer.Option(help="HTTP interface for --slack-http.")] = "0.0.0.0",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus /metrics on this port (--slack-http serves it too)."),
    ] = None,
) -> None:
    """Run the bot: Slack and Discord when configured (else the console), plus scheduled jobs."""
    from adapters.runner import PlatformGone, RunOptions, run_bot

    settings = _settings(service=True)
    options = RunOptions(slack_http=slack_http, host=host, port=port, metrics_port=metrics_port)
    try:
        asyncio.run(run_bot(settings, options))
    except (StorageError, ConfigError) as error:
        raise _fail(str(error)) from None
    except PlatformGone as error:
        raise _fail(str(error), code=1) from None
    except KeyboardInterrupt:
        pass
