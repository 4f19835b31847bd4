"""Reading lists and exports, as a person in a channel uses them."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import bibtexparser

from adapters.console import run_console
from bot.commands import Paperboy
from bot.models import ChannelRef
from bot.replies import FileReply, Notice, PaperList, Reply
from tests.conftest import GENERAL, Chat
from tests.papers import paper

Ask = Callable[..., Awaitable[Reply]]
OTHER_CHANNEL = ChannelRef("console", "team-a", "random")
OTHER_TEAM = ChannelRef("console", "team-b", "general")


async def test_save_then_saved_lists_it_privately_unread_first(ask: Ask, chat: Chat) -> None:
    assert "Saved “Tutel" in await chat(f"save {paper(2).id}")
    await chat(f"save {paper(3).id}")
    await chat(f"read {paper(3).id}")
    reply = await ask("saved")
    assert isinstance(reply, PaperList) and not reply.public
    assert [(c.paper.id, c.reading) for c in reply.cards] == [
        (paper(2).id, "unread"),
        (paper(3).id, "read"),
    ]
    assert reply.title == "Your reading list: 1 unread, 1 read"
    text = await chat("saved")
    assert f"[{paper(2).id}] · unread" in text and f"[{paper(3).id}] · read" in text


async def test_a_reading_list_is_per_person_and_per_workspace(chat: Chat) -> None:
    await chat(f"save {paper(1).id}", user="alice")
    # The same person in another channel of the workspace sees the same list.
    assert paper(1).title in await chat("saved", user="alice", channel=OTHER_CHANNEL)
    assert "Your reading list is empty" in await chat("saved", user="bob")
    assert "Your reading list is empty" in await chat("saved", user="alice", channel=OTHER_TEAM)


async def test_saving_twice_says_it_is_there_already(chat: Chat) -> None:
    await chat(f"save {paper(1).id}")
    assert "already on your reading list" in await chat(f"save {paper(1).id}v2")


async def test_unsave_removes_and_says_so_when_it_was_not_there(chat: Chat) -> None:
    await chat(f"save {paper(1).id}")
    assert "Removed “Efficient Streaming" in await chat(f"unsave {paper(1).id}")
    assert f"`{paper(1).id}` is not on your reading list" in await chat(f"unsave {paper(1).id}")
    assert "Your reading list is empty" in await chat("saved")


async def test_read_marks_read_and_saves_a_paper_that_was_not_saved(chat: Chat) -> None:
    assert "Marked “Tutel" in await chat(f"read {paper(2).id}")
    assert "already marked" in await chat(f"read {paper(2).id}")
    assert "1 read" in await chat("saved")


async def test_reading_list_commands_answer_a_wrong_id_clearly(chat: Chat) -> None:
    for verb in ("save", "unsave", "read"):
        assert "is not a paper id or link" in await chat(f"{verb} banana")
        assert "Which paper?" in await chat(verb)
    assert "could not find paper `2401.99999`" in await chat("save 2401.99999")
    assert "could not find paper `2401.99999`" in await chat("read 2401.99999")


# -- export -------------------------------------------------------------------------------


async def test_export_with_no_votes_says_there_is_nothing_to_export(chat: Chat) -> None:
    assert "Nobody has upvoted a paper yet: nothing to export" in await chat("export")
    assert "Your reading list is empty: nothing to export" in await chat("export csv saved")


async def test_export_bibtex_is_the_teams_upvoted_papers_most_votes_first(ask: Ask) -> None:
    await ask(f"vote {paper(3).id}", user="alice")
    await ask(f"vote {paper(3).id}", user="bob")
    await ask(f"vote {paper(5).id}", user="bob")
    await ask(f"vote {paper(1).id}", user="carol", channel=OTHER_TEAM)
    reply = await ask("export")
    assert isinstance(reply, FileReply) and reply.public
    assert reply.filename.endswith(".bib") and reply.mime_type == "application/x-bibtex"
    assert "2 papers" in reply.text
    entries = bibtexparser.parse_string(reply.data.decode()).entries
    assert [e["eprint"] for e in entries] == [paper(3).id, paper(5).id]
    assert entries[0]["title"] == paper(3).title


async def test_export_csv_saved_is_my_reading_list_only_for_me(ask: Ask) -> None:
    await ask(f"save {paper(4).id}", user="alice")
    await ask(f"save {paper(6).id}", user="bob")
    reply = await ask("export csv saved", user="alice")
    assert isinstance(reply, FileReply) and not reply.public
    assert reply.filename.endswith(".csv") and reply.mime_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(reply.data.decode())))
    assert [row["id"] for row in rows] == [paper(4).id]
    assert rows[0]["title"] == "Pyramid Vision Transformer: A Versatile Backbone for Dense " + (
        "Prediction without Convolutions"
    )


async def test_export_in_an_unknown_format_lists_the_formats(chat: Chat) -> None:
    text = await chat("export pdf")
    assert "can't export as `pdf`" in text
    assert "`bibtex`" in text and "`csv`" in text
    assert "`bibtex`" in await chat("export csv bibtex")


async def test_the_console_writes_an_export_to_a_file_and_says_where(
    bot: Paperboy, tmp_path: Path
) -> None:
    await bot.store.toggle_vote(GENERAL, "you", paper(1).id)
    script = io.StringIO("export csv\nexport csv\nexport pdf\n")
    out = io.StringIO()
    exports = tmp_path / "exports"
    exports.mkdir()
    await run_console(bot, stdin=script, out=out, channel=GENERAL, files=exports)
    written = sorted(exports.iterdir())
    assert [p.suffix for p in written] == [".csv", ".csv"]  # the second never overwrites the first
    assert f"Saved to {written[0]}" in out.getvalue()
    assert paper(1).title in written[0].read_text()
    assert "can't export as `pdf`" in out.getvalue()


async def test_help_lists_the_new_commands(ask: Ask) -> None:
    reply = await ask("help")
    assert isinstance(reply, Notice)
    for usage in ("save <id>", "saved", "unsave <id>", "read <id>", "export [bibtex|csv] [saved]",
                  "present <id> [date]", "club"):  # fmt: skip
        assert any(f"`/papers {usage}" in line for line in reply.lines), usage
