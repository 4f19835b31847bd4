"""Suggestions as people type an option: papers by title, this channel's topics, timezones.

Plain functions, not cog methods, so any command can use them; they find the client (and through
it the core) on the interaction.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from adapters.discord_app.client import channel_ref, paperboy_client
from bot.commands import UserError
from bot.ids import parse_paper_ref
from bot.query import QueryError
from bot.replies import shorten
from bot.scheduling import timezone_suggestions

CHOICES_LIMIT = 25  # Discord shows at most 25 suggestions
CHOICE_LIMIT = 100  # characters in a suggestion's name and value


async def paper_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Papers whose text matches what is typed so far; the value sent is the paper id."""
    text = current.strip()
    if not text or parse_paper_ref(text) is not None:
        return []
    client = paperboy_client(interaction)
    ref = channel_ref(interaction.guild_id, interaction.channel_id)
    try:
        found = await client.paperboy.search(ref, text, limit=10)
    except (UserError, QueryError):
        return []
    return [
        app_commands.Choice(
            name=shorten(f"{c.paper.title} · {c.paper.id}", CHOICE_LIMIT), value=c.paper.id
        )
        for c in found.cards
    ]


async def topic_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """This channel's topics; a topic too long for a choice value is sent as its number."""
    client = paperboy_client(interaction)
    subs = await client.paperboy.store.subscriptions(
        channel_ref(interaction.guild_id, interaction.channel_id)
    )
    needle = current.strip().lower()
    choices = []
    for number, sub in enumerate(subs, start=1):
        if needle and needle not in sub.query.lower():
            continue
        value = sub.query if len(sub.query) <= CHOICE_LIMIT else str(number)
        choices.append(
            app_commands.Choice(name=shorten(f"{number}. {sub.query}", CHOICE_LIMIT), value=value)
        )
    return choices[:CHOICES_LIMIT]


async def timezone_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=z, value=z) for z in timezone_suggestions(current, CHOICES_LIMIT)
    ]


async def saved_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Papers on the asker's reading list whose title or id contains what is typed."""
    client = paperboy_client(interaction)
    ref = channel_ref(interaction.guild_id, interaction.channel_id)
    saved = await client.paperboy.store.reading_list(ref, str(interaction.user.id))
    papers = await client.paperboy.store.get_papers([s.paper_id for s in saved])
    needle = current.strip().lower()
    choices = []
    for entry in saved:
        paper = papers.get(entry.paper_id)
        title = paper.title if paper else entry.paper_id
        if needle and needle not in title.lower() and needle not in entry.paper_id:
            continue
        mark = " ✓" if entry.is_read else ""
        name = shorten(f"{title} · {entry.paper_id}{mark}", CHOICE_LIMIT)
        choices.append(app_commands.Choice(name=name, value=entry.paper_id))
    return choices[:CHOICES_LIMIT]
