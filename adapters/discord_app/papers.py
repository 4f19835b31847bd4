"""``/papers …``: everything anyone in the channel may do, one subcommand per core command."""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord_app.answers import answer, words
from adapters.discord_app.autocomplete import paper_choices
from adapters.discord_app.client import PaperboyDiscord
from adapters.discord_app.knowledge import KnowledgeCommands

PAPER = "An arXiv id like 2401.01234, a paper link, or words from the title"


@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class PapersCog(
    KnowledgeCommands,
    commands.GroupCog,
    group_name="papers",
    group_description="Research papers for this channel",
):
    """``/papers …``: search, show, vote, share, trending, top, subscriptions, digest, status."""

    def __init__(self, client: PaperboyDiscord) -> None:
        self.client = client
        super().__init__()

    @app_commands.command(description="Find papers, best match first")
    @app_commands.describe(
        query='Words, "a phrase", -exclude, OR, author:name, cat:cs.CL, since:2024-01-01 or 2w',
        share="Show the results to the whole channel (default: only you)",
    )
    async def search(
        self, interaction: discord.Interaction[Any], query: str, share: bool = False
    ) -> None:
        text = words("search", query, "--share" if share else "")
        await answer(self.client, interaction, text, public=share)

    @app_commands.command(description="Show one paper in full")
    @app_commands.describe(paper=PAPER)
    @app_commands.autocomplete(paper=paper_choices)
    async def show(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await answer(self.client, interaction, words("show", paper))

    @app_commands.command(description="Papers like this one")
    @app_commands.describe(paper=PAPER)
    @app_commands.autocomplete(paper=paper_choices)
    async def similar(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await answer(self.client, interaction, words("similar", paper))

    @app_commands.command(description="Upvote a paper for your team (again to undo)")
    @app_commands.describe(paper=PAPER)
    @app_commands.autocomplete(paper=paper_choices)
    async def vote(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await answer(self.client, interaction, words("vote", paper))

    @app_commands.command(description="Share a paper with the channel")
    @app_commands.describe(paper=PAPER, comment="Why the team should read it")
    @app_commands.autocomplete(paper=paper_choices)
    async def share(
        self, interaction: discord.Interaction[Any], paper: str, comment: str | None = None
    ) -> None:
        first_word = next(iter(paper.split()), "")  # the core reads the comment after the paper
        text = words("share", first_word, comment or "")
        await answer(self.client, interaction, text, public=True)

    @app_commands.command(description="The most upvoted new papers")
    @app_commands.describe(span="Today or this week")
    async def trending(
        self, interaction: discord.Interaction[Any], span: Literal["today", "week"] = "today"
    ) -> None:
        await answer(self.client, interaction, words("trending", span))

    @app_commands.command(description="Your team's most upvoted papers")
    @app_commands.describe(span="This week or this month")
    async def top(
        self, interaction: discord.Interaction[Any], span: Literal["week", "month"] = "week"
    ) -> None:
        await answer(self.client, interaction, words("top", span))

    @app_commands.command(description="List this channel's topics and schedule")
    async def subscriptions(self, interaction: discord.Interaction[Any]) -> None:
        await answer(self.client, interaction, "subscriptions")

    @app_commands.command(description="Preview this channel's next daily picks")
    async def digest(self, interaction: discord.Interaction[Any]) -> None:
        await answer(self.client, interaction, "digest")

    @app_commands.command(description="Sources, papers stored, and this channel's next digest")
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        await answer(self.client, interaction, "status")

    @app_commands.command(name="help", description="Show what Paperboy can do")
    async def help_(self, interaction: discord.Interaction[Any]) -> None:
        await answer(self.client, interaction, "help")


async def setup(client: PaperboyDiscord) -> None:
    await client.add_cog(PapersCog(client))
