"""The persistent upvote button, and a rendered message as the keyword arguments to send it.

The button is a :class:`discord.ui.DynamicItem`: its ``custom_id`` carries the paper id, so a click
on a message posted before a restart, or by another process, is still answered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import discord
from discord.utils import MISSING

from adapters.discord_app.client import PaperboyDiscord, paperboy_client
from adapters.discord_app.embeds import DiscordMessage, VoteSpec, relabel, render
from bot.replies import VoteRecorded

VOTE_ID = re.compile(r"paperboy:vote:(?P<paper_id>\S{1,80})")
SIMILAR_ID = re.compile(r"paperboy:similar:(?P<paper_id>\S{1,80})")
MAX_ROWS = 5  # Discord's limit of action rows per message


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=VOTE_ID):
    """An upvote button whose ``custom_id`` carries the paper id, so any process can answer it."""

    def __init__(self, paper_id: str, label: str | None = None, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=label or "▲ Upvote",
                custom_id=f"paperboy:vote:{paper_id}",
                row=row,
            )
        )
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> VoteButton:
        return cls(match["paper_id"], label=getattr(item, "label", None))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await vote_clicked(paperboy_client(interaction), interaction, self.paper_id)


class SimilarButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=SIMILAR_ID
):
    """ "More like this": answers the clicker privately with papers like this one."""

    def __init__(self, paper_id: str, label: str | None = None, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=label or "More like this",
                custom_id=f"paperboy:similar:{paper_id}",
                row=row,
            )
        )
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> SimilarButton:
        return cls(match["paper_id"], label=getattr(item, "label", None))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        from adapters.discord_app.answers import answer  # answers imports this module

        await answer(paperboy_client(interaction), interaction, f"similar {self.paper_id}")


def similar_label(vote_label: str) -> str:
    """``#2 More like this`` beside a list's ``#2 ▲ 3``; plain on a single paper."""
    number = vote_label.split()[0] if vote_label.startswith("#") else ""
    return f"{number} More like this".strip()


async def vote_clicked(
    client: PaperboyDiscord, interaction: discord.Interaction[Any], paper_id: str
) -> None:
    """Toggle the clicker's vote, update the button's count in place, tell them privately."""
    command = client.core_command(interaction, f"vote {paper_id}")
    work = asyncio.ensure_future(client.paperboy.handle(command))
    done, _ = await asyncio.wait({work}, timeout=client.answer_within)
    if not done:
        await interaction.response.defer()  # the message will be edited, not answered
    reply = await work
    message = render(reply)
    if not isinstance(reply, VoteRecorded):
        if done:
            await interaction.response.send_message(**send_kwargs(message), ephemeral=True)
        else:
            await interaction.followup.send(**send_kwargs(message), ephemeral=True)
        return
    view = revoted_view(interaction.message, paper_id, reply.card.team_votes)
    if done:
        await interaction.response.edit_message(view=view)
    else:
        await interaction.edit_original_response(view=view)
    await interaction.followup.send(embeds=list(message.embeds), ephemeral=True)


def revoted_view(message: discord.Message | None, paper_id: str, votes: int) -> discord.ui.View:
    """The message's buttons again, the clicked paper's count replaced, rows kept."""
    view = discord.ui.View(timeout=None)
    if message is None:
        view.add_item(VoteButton(paper_id, relabel(None, votes)))
        return view
    for row, component in enumerate(message.components):
        if not isinstance(component, discord.ActionRow):
            continue
        for child in component.children:
            if not isinstance(child, discord.Button):
                continue
            match = VOTE_ID.fullmatch(child.custom_id or "")
            similar = SIMILAR_ID.fullmatch(child.custom_id or "")
            if match:
                label = (
                    relabel(child.label, votes) if match["paper_id"] == paper_id else child.label
                )
                view.add_item(VoteButton(match["paper_id"], label, row=row))
            elif similar:
                view.add_item(SimilarButton(similar["paper_id"], child.label, row=row))
            elif child.url:
                view.add_item(discord.ui.Button(label=child.label, url=child.url, row=row))
    return view


def vote_view(votes: Sequence[VoteSpec]) -> discord.ui.View | None:
    """The upvote buttons for a message, each paper's "More like this" in the rows below them,
    or None when it has none."""
    if not votes:
        return None
    view = discord.ui.View(timeout=None)  # never times out: the buttons are dynamic items
    for vote in votes:
        view.add_item(VoteButton(vote.paper_id, vote.label, row=vote.row))
    below = max(vote.row for vote in votes) + 1
    for vote in votes:
        row = below + vote.row
        if row < MAX_ROWS:
            view.add_item(SimilarButton(vote.paper_id, similar_label(vote.label), row=row))
    return view


def send_kwargs(message: DiscordMessage) -> dict[str, Any]:
    """What ``send`` / ``send_message`` take for a rendered message (never pinging anyone)."""
    view = vote_view(message.votes)
    return {
        "content": message.content,
        "embeds": list(message.embeds),
        "view": view if view is not None else MISSING,
        "allowed_mentions": discord.AllowedMentions.none(),
    }


async def setup(bot: PaperboyDiscord) -> None:
    """Answer upvote clicks, on old messages too (the buttons outlive the process)."""
    bot.add_dynamic_items(VoteButton, SimilarButton)
