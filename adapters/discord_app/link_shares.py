"""Pasted arXiv / Hugging Face links become shares, answered with the paper.

Needs the Message Content intent for links in ordinary messages; without it Discord still shows
the bot messages that mention it and its direct messages.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from adapters.discord_app.client import PaperboyDiscord, channel_ref, guild_id_of
from adapters.discord_app.discussion import remember_posted
from adapters.discord_app.embeds import render
from adapters.discord_app.views import send_kwargs
from bot.replies import PaperCard, PaperDetail, PaperList, Reply

log = logging.getLogger(__name__)

MAX_LINKS_PER_MESSAGE = 3


class LinkSharesCog(commands.Cog):
    """Reads every message for paper links; answers once per message, replying to it."""

    def __init__(self, client: PaperboyDiscord) -> None:
        self.client = client

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        guild_id = guild_id_of(message)
        where = channel_ref(guild_id, message.channel.id)
        shared = await self.client.paperboy.share_links(
            where,
            str(message.author.id),
            [message.content],
            limit=MAX_LINKS_PER_MESSAGE,
            user_name=message.author.display_name,
        )
        if not shared:
            return
        rendered = render(shared_reply([link.card for link in shared]))
        try:
            sent = await message.channel.send(
                **send_kwargs(rendered),
                reference=message.to_reference(fail_if_not_exists=False),
                mention_author=False,
            )
        except discord.HTTPException as error:
            log.info("Could not answer a shared link in %s: %s", where, error)
            return
        await remember_posted(self.client.paperboy.store, where, sent.id, rendered)


def shared_reply(cards: list[PaperCard]) -> Reply:
    """One paper in full, or several as a list, in the channel for everyone."""
    if len(cards) == 1:
        return PaperDetail(cards[0], public=True)
    return PaperList(f"{len(cards)} papers shared", tuple(cards), len(cards), public=True)


async def setup(client: PaperboyDiscord) -> None:
    await client.add_cog(LinkSharesCog(client))
