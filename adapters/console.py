"""The console adapter: chat with Paperboy in a terminal, or script it through stdin."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot.commands import Paperboy
from bot.models import ChannelRef
from bot.replies import (
    Command,
    FileReply,
    Notice,
    PaperCard,
    PaperDetail,
    PaperList,
    Reply,
    VoteRecorded,
    format_authors,
    shorten,
)

CONSOLE_CHANNEL = ChannelRef("console", "local", "general")
_QUIT = {"quit", "exit", ":q", "/quit"}
_MARKS = {"info": "", "success": "✓ ", "error": "✗ "}


def render(reply: Reply) -> str:
    """Plain text for a terminal; matched words in a snippet are wrapped in [brackets]."""
    if isinstance(reply, FileReply):
        return f"{_MARKS[reply.kind]}{reply.text} [{reply.filename}, {reply.size:,} bytes]"
    if isinstance(reply, Notice):
        return "\n".join([_MARKS[reply.kind] + reply.text, *(f"  {line}" for line in reply.lines)])
    if isinstance(reply, VoteRecorded):
        return reply.text
    if isinstance(reply, PaperDetail):
        return _render_card(reply.card, full=True)
    return _render_list(reply)


def _render_list(reply: PaperList) -> str:
    if not reply.cards:
        return reply.empty_text
    parts = [reply.title]
    if reply.intro:
        parts.append("\n".join(reply.intro))
    for number, card in enumerate(reply.cards, start=1):
        parts.append(_render_card(card, number=number))
    for extra in (reply.more_hint, reply.footer):
        if extra:
            parts.append(extra)
    return "\n\n".join(parts)


def _render_card(card: PaperCard, *, number: int | None = None, full: bool = False) -> str:
    paper = card.paper
    head = f"{number}. " if number else ""
    reading = f" · {card.reading}" if card.reading else ""
    team = f"{card.team_votes} team vote{'' if card.team_votes == 1 else 's'}"
    votes = f"▲ {paper.hf_upvotes} on HF · {team}" if paper.on_hf else team
    lines = [
        f"{head}{paper.title}  [{paper.id}]{reading}",
        f"   {format_authors(paper.authors)} · {paper.published:%Y-%m-%d}"
        + (f" · {', '.join(paper.categories[:3])}" if paper.categories else "")
        + f" · {votes}",
        f"   {paper.abs_url}",
    ]
    if card.tldr:
        lines.append(f"   TL;DR: {card.tldr}")
    if card.code:
        lines.append(f"   Code: {card.code.label}  {card.code.url}")
    if card.reason:
        lines.append(f"   Why: {card.reason}")
    if card.shared_by:
        lines.append(f"   Shared by {', '.join(card.shared_by)}")
    lines.extend(f"   “{comment}”" for comment in card.comments)
    text = paper.abstract if full else card.excerpt_below_tldr.marked("[", "]")
    if text:
        lines.append("   " + (text if full else shorten(text, 320)))
    return "\n".join(lines)


@dataclass
class ConsolePoster:
    """Posts scheduled digests to the terminal (the console's channel is this process)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    platform: str = "console"

    async def post(self, channel: ChannelRef, reply: Reply) -> None:
        # A direct message (ChannelRef.direct) shows who it is for instead of a channel.
        where = f"#{channel.channel}"
        if channel.direct_user is not None:
            where = f"direct message to {channel.direct_user}"
        print(f"\n{where} ←\n{render(reply)}\n", file=self.out, flush=True)


def save_file(reply: FileReply, folder: Path) -> Path:
    """Write an export into ``folder`` under its own name, never over an existing file."""
    target = folder / reply.filename
    stem, suffix = target.stem, target.suffix
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{suffix}"
    target.write_bytes(reply.data)
    return target


def _save_and_say_where(reply: FileReply, folder: Path) -> str:
    try:
        return f"Saved to {save_file(reply, folder)}"
    except OSError as error:
        return f"✗ Could not write {reply.filename} in {folder}: {error.strerror or error}"


async def run_console(
    bot: Paperboy,
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    user: str = "you",
    channel: ChannelRef = CONSOLE_CHANNEL,
    files: Path | None = None,
) -> None:
    """Read commands line by line until EOF or ``quit``; answer each in the terminal.
    Exported files are written to ``files`` (default: the current directory)."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    interactive = stdin.isatty()
    read: Callable[[], str] = (lambda: input("paperboy> ")) if interactive else stdin.readline
    if interactive:
        print(
            f"Paperboy console — you are {user} in #{channel.channel}. "
            "Type `help`, or `quit` to leave.",
            file=out,
        )
    while True:
        try:
            line = await asyncio.to_thread(read)
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and line == "":
            break
        text = line.strip()
        if not text:
            continue
        if text.lower() in _QUIT:
            break
        if not interactive:
            print(f"> {text}", file=out)
        # Whoever types here runs the bot: they administer its one workspace.
        reply = await bot.handle(Command(channel=channel, user=user, text=text, is_admin=True))
        answer = render(reply)
        if isinstance(reply, FileReply):
            answer += "\n" + _save_and_say_where(reply, files or Path.cwd())
        print(answer + "\n", file=out, flush=True)
