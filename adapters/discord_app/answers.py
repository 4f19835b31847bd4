"""Answering a slash command within Discord's three seconds, however long the core takes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord_app.embeds import render
from adapters.discord_app.views import send_kwargs, vote_view
from bot.replies import Reply

if TYPE_CHECKING:
    from adapters.discord_app.client import PaperboyDiscord


async def answer(
    client: PaperboyDiscord,
    interaction: discord.Interaction[Any],
    text: str,
    *,
    public: bool = False,
    adjust: Callable[[Reply], Reply] | None = None,
) -> None:
    """Run ``text`` as a command and answer the interaction within Discord's 3 seconds.

    A fast answer is the interaction response itself. When the core takes longer (a live arXiv
    lookup), the interaction is deferred and the answer follows. ``public`` is what a successful
    answer will be, so the "thinking…" message starts out visible to the right people; an
    answer that turns out otherwise (an error after a public defer) replaces it.
    """
    command = client.core_command(interaction, text)
    work = asyncio.ensure_future(client.paperboy.handle(command))
    done, _ = await asyncio.wait({work}, timeout=client.answer_within)
    if not done:
        await interaction.response.defer(ephemeral=not public, thinking=True)
    reply = await work
    message = render(adjust(reply) if adjust else reply)
    if done:
        await interaction.response.send_message(**send_kwargs(message), ephemeral=message.ephemeral)
    elif message.ephemeral == (not public):
        await interaction.edit_original_response(
            content=message.content, embeds=list(message.embeds), view=vote_view(message.votes)
        )
    else:
        await interaction.delete_original_response()
        await interaction.followup.send(**send_kwargs(message), ephemeral=message.ephemeral)


def words(*parts: str) -> str:
    """Slash-command options back into the words the core reads, empty ones left out."""
    return " ".join(part.strip() for part in parts if part and part.strip())
