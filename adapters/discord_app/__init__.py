"""The Discord adapter (discord.py 2.x): slash commands and buttons in, embeds out."""

from __future__ import annotations

from adapters.discord_app.client import (
    MANAGE_CHANNELS_REFUSAL,
    DiscordConnection,
    DiscordPoster,
    PaperboyDiscord,
    build_discord_client,
    start_discord,
)

__all__ = [
    "MANAGE_CHANNELS_REFUSAL",
    "DiscordConnection",
    "DiscordPoster",
    "PaperboyDiscord",
    "build_discord_client",
    "start_discord",
]
