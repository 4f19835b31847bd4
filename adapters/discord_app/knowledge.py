"""``/papers`` subcommands for what a team keeps: reading lists, exports and journal club.

A mixin of :class:`~adapters.discord_app.papers.PapersCog` (discord.py collects a cog's commands
from its bases), so they are subcommands of ``/papers`` like the rest while living in their own
module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord_app.answers import answer, words
from adapters.discord_app.autocomplete import paper_choices, saved_choices

if TYPE_CHECKING:
    from adapters.discord_app.client import PaperboyDiscord

PAPER = "An arXiv id like 2401.01234, a paper link, or words from the title"
SAVED_PAPER = "A paper on your reading list"


class KnowledgeCommands(commands.Cog):
    """save, saved, unsave, read, export, present, club (never added on its own)."""

    client: PaperboyDiscord

    @app_commands.command(description="Save a paper to your reading list (only you see it)")
    @app_commands.describe(paper=PAPER)
    @app_commands.autocomplete(paper=paper_choices)
    async def save(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await answer(self.client, interaction, words("save", paper))

    @app_commands.command(description="Your reading list, unread first (only you see it)")
    async def saved(self, interaction: discord.Interaction[Any]) -> None:
        await answer(self.client, interaction, "saved")

    @app_commands.command(description="Take a paper off your reading list")
    @app_commands.describe(paper=SAVED_PAPER)
    @app_commands.autocomplete(paper=saved_choices)
    async def unsave(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await answer(self.client, interaction, words("unsave", paper))

    @app_commands.command(description="Mark a paper on your reading list as read")
    @app_commands.describe(paper=SAVED_PAPER)
    @app_commands.autocomplete(paper=saved_choices)
    async def read(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await answer(self.client, interaction, words("read", paper))

    @app_commands.command(description="The team's upvoted papers as a file for reference managers")
    @app_commands.rename(file_format="format")
    @app_commands.describe(
        file_format="BibTeX for reference managers, CSV for spreadsheets (default BibTeX)",
        saved="Your reading list instead of the team's upvotes (only you see the file)",
    )
    async def export(
        self,
        interaction: discord.Interaction[Any],
        file_format: Literal["bibtex", "csv"] = "bibtex",
        saved: bool = False,
    ) -> None:
        text = words("export", file_format, "saved" if saved else "")
        await answer(self.client, interaction, text, public=not saved)

    @app_commands.command(description="Claim a paper to present in this channel's journal club")
    @app_commands.describe(
        paper=PAPER,
        date="Like 2026-12-10, tomorrow or friday (default: the channel's next digest day)",
        cancel="Cancel your claim on this paper instead",
    )
    @app_commands.autocomplete(paper=paper_choices)
    async def present(
        self,
        interaction: discord.Interaction[Any],
        paper: str,
        date: str | None = None,
        cancel: bool = False,
    ) -> None:
        typed = paper.split()
        # The reminder's hint reads `/papers present cancel <id>`: typed into `paper`, it works.
        if typed and typed[0].lower() == "cancel":
            cancel, typed = True, typed[1:]
        first_word = typed[0] if typed else ""  # the core reads the date after the paper
        if cancel:
            text = words("present cancel", first_word)
        else:
            text = words("present", first_word, date or "")
        await answer(self.client, interaction, text, public=True)

    @app_commands.command(description="What this channel's journal club presents next, and who")
    async def club(self, interaction: discord.Interaction[Any]) -> None:
        await answer(self.client, interaction, "club")
