"""The persistent upvote and Save buttons, and a rendered message as the keyword arguments to
send it.

The buttons are dynamic items (:class:`discord.ui.DynamicItem`): their ``custom_id`` carries the
paper id, so a click on a message posted before a restart, or by another process, is answered.
"""

from __future__ import annotations

import asyncio
import io
import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import discord
from discord.utils import MISSING

from adapters.discord_app.client import PaperboyDiscord, paperboy_client
from adapters.discord_app.embeds import (
    BUTTONS_PER_ROW,
    DiscordMessage,
    SaveSpec,
    VoteSpec,
    relabel,
    render,
    save_label,
)
from bot.replies import SAVE_COMMAND, VoteRecorded

VOTE_ID = re.compile(r"paperboy:vote:(?P<paper_id>\S{1,80})")
SAVE_ID = re.compile(r"paperboy:save:(?P<paper_id>\S{1,80})")
SIMILAR_ID = re.compile(r"paperboy:similar:(?P<paper_id>\S{1,80})")
MAX_ROWS = 5  # Discord's limit of action rows per message


class PaperButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"paperboy:[a-z]+:(?P<paper_id>\S{1,80})",
):
    """A button whose ``custom_id`` (``paperboy:<kind>:<paper id>``) carries the paper id, so any
    process can answer it, after restarts too. Subclasses name the kind and answer the click."""

    kind: ClassVar[str]
    default_label: ClassVar[str]

    def __init__(self, paper_id: str, label: str | None = None, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=label or self.default_label,
                custom_id=f"paperboy:{self.kind}:{paper_id}",
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
    ) -> Self:
        return cls(match["paper_id"], label=getattr(item, "label", None))


class VoteButton(PaperButton, template=VOTE_ID):
    """An upvote button; the click toggles the clicker's vote."""

    kind = "vote"
    default_label = "▲ Upvote"

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await vote_clicked(paperboy_client(interaction), interaction, self.paper_id)


class SimilarButton(PaperButton, template=SIMILAR_ID):
    """ "More like this": answers the clicker privately with papers like this one."""

    kind = "similar"
    default_label = "More like this"

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
            elif saved := SAVE_ID.fullmatch(child.custom_id or ""):
                view.add_item(SaveButton(saved["paper_id"], child.label, row=row))
            elif similar:
                view.add_item(SimilarButton(similar["paper_id"], child.label, row=row))
            elif child.url:
                view.add_item(discord.ui.Button(label=child.label, url=child.url, row=row))
    return view


def send_kwargs(message: DiscordMessage) -> dict[str, Any]:
    """What ``send`` / ``send_message`` take for a rendered message (never pinging anyone)."""
    view = message_view(message)
    kwargs: dict[str, Any] = {
        "content": message.content,
        "embeds": list(message.embeds),
        "view": view if view is not None else MISSING,
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    if message.attachment is not None:
        kwargs["file"] = attachment_file(message)
    return kwargs


def attachment_file(message: DiscordMessage) -> discord.File:
    """The message's file, fresh: a :class:`discord.File` is read once, so one per send."""
    assert message.attachment is not None
    upload = message.attachment
    return discord.File(io.BytesIO(upload.data), filename=upload.filename)


# -- Save: the clicker's reading list ---------------------------------------------------------


class SaveButton(PaperButton, template=SAVE_ID):
    """Saves the paper to the clicker's reading list; only they see the confirmation."""

    kind = "save"
    default_label = save_label()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        from adapters.discord_app.answers import answer  # answers imports this module

        await answer(paperboy_client(interaction), interaction, f"{SAVE_COMMAND} {self.paper_id}")


def message_view(message: DiscordMessage) -> discord.ui.View | None:
    """All of a message's buttons: upvotes, saves below them, then "More like this" where
    Discord's five rows leave room for every paper's; None when it has none."""
    if not message.votes and not message.saves:
        return None
    view = discord.ui.View(timeout=None)  # never times out: the buttons are dynamic items
    for vote in message.votes:
        view.add_item(VoteButton(vote.paper_id, vote.label, row=vote.row))
    for save in message.saves:
        view.add_item(SaveButton(save.paper_id, save.label, row=save.row))
    for button in _similar_buttons(message.votes, message.saves):
        view.add_item(button)
    return view


def _similar_buttons(votes: Sequence[VoteSpec], saves: Sequence[SaveSpec]) -> list[SimilarButton]:
    """One card keeps all its buttons in one row; a list gets a "More like this" per paper in
    the rows left below, or none at all rather than for only some of its papers."""
    if len(votes) == 1:
        only = votes[0]
        return [SimilarButton(only.paper_id, similar_label(only.label), row=only.row)]
    rows = [vote.row for vote in votes] + [save.row for save in saves]
    below = max(rows) + 1 if rows else 0
    if below + math.ceil(len(votes) / BUTTONS_PER_ROW) > MAX_ROWS:
        return []
    return [
        SimilarButton(vote.paper_id, similar_label(vote.label), row=below + n // BUTTONS_PER_ROW)
        for n, vote in enumerate(votes)
    ]


async def setup(bot: PaperboyDiscord) -> None:
    """Answer upvote clicks, on old messages too (the buttons outlive the process)."""
    bot.add_dynamic_items(VoteButton, SaveButton, SimilarButton)
