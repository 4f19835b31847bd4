"""The Discord adapter (discord.py 2.x): slash commands and buttons in, embeds out.

| module | concern |
|---|---|
| ``client`` | the client: login and close, intents, command sync, starting and stopping |
| ``papers`` | ``/papers …`` cog: what anyone may do |
| ``knowledge`` | its reading list, export and journal club subcommands |
| ``channel_settings`` | ``/papers-channel …`` cog: subscribe, unsubscribe, schedule |
| ``link_shares`` | pasted paper links become shares |
| ``discussion`` | replies under a posted paper counted |
| ``answers`` | answering an interaction within Discord's three seconds |
| ``autocomplete`` | suggestions as people type |
| ``permissions`` | who may change a channel, whether the bot may post there |
| ``views`` | the persistent upvote and Save buttons |
| ``embeds`` | a reply rendered as embeds (pure functions) |
| ``poster`` | digests and direct messages out, through the scheduler's ``Poster`` port |
| ``tree`` | private answers for refused or failed commands |
"""

from __future__ import annotations

from adapters.discord_app.client import (
    DiscordConnection,
    PaperboyDiscord,
    build_discord_client,
    start_discord,
)
from adapters.discord_app.permissions import MANAGE_CHANNELS_REFUSAL
from adapters.discord_app.poster import DiscordPoster

__all__ = [
    "MANAGE_CHANNELS_REFUSAL",
    "DiscordConnection",
    "DiscordPoster",
    "PaperboyDiscord",
    "build_discord_client",
    "start_discord",
]
