"""The command tree's last word: a refused or failed slash command gets a private answer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from adapters.discord_app.embeds import render
from adapters.discord_app.permissions import MANAGE_CHANNELS_REFUSAL
from bot.replies import APOLOGY, Notice

if TYPE_CHECKING:
    from adapters.discord_app.client import PaperboyDiscord

log = logging.getLogger(__name__)

OUT_OF_DATE = "That command is out of date. Please try again in a minute."


class PaperboyTree(app_commands.CommandTree["PaperboyDiscord"]):
    """Turns a refused or failed command into a private message instead of silence."""

    async def on_error(
        self, interaction: discord.Interaction[PaperboyDiscord], error: app_commands.AppCommandError
    ) -> None:
        if interaction.type is discord.InteractionType.autocomplete:
            log.warning("Discord autocomplete failed: %s", error, exc_info=error)
            return
        if isinstance(error, app_commands.MissingPermissions):
            text = MANAGE_CHANNELS_REFUSAL
        elif isinstance(
            error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch
        ):
            text = OUT_OF_DATE
        else:
            log.error("Discord command %r failed", interaction.command, exc_info=error)
            text = APOLOGY
        await send_private(interaction, Notice(text, kind="error"))


async def send_private(interaction: discord.Interaction[Any], notice: Notice) -> None:
    """A notice only the person who asked sees, whether or not the interaction was answered."""
    message = render(notice)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(embeds=list(message.embeds), ephemeral=True)
        else:
            await interaction.response.send_message(embeds=list(message.embeds), ephemeral=True)
    except discord.HTTPException as error:
        log.warning("Could not tell the user about an error: %s", error)
