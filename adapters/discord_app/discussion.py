"""Replies under a posted paper count as discussion of it (the weekly digest's "most discussed").

A message that shows one paper is remembered by its id when it is posted. A member's message
counts when it replies to such a message (``message.reference``) or is posted in a thread started
from one: Discord gives a thread started from a message the id of that message, so the thread's
own id is the key. Each reply counts once, by its own message id, however often it is delivered.
A message showing several papers (a digest) is not remembered: a reply to it names no one paper.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from adapters.discord_app.client import PaperboyDiscord, channel_ref, guild_id_of
from adapters.discord_app.embeds import DiscordMessage
from bot.models import ChannelRef
from bot.storage import Store

log = logging.getLogger(__name__)

_THREADS = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)


async def remember_posted(
    store: Store, where: ChannelRef, message_id: int, message: DiscordMessage
) -> None:
    """Note that ``message_id`` shows the rendered message's paper, when it shows exactly one."""
    paper_id = message.paper_id
    if paper_id is None:
        return
    try:
        await store.remember_message(where, str(message_id), paper_id)
    except Exception:  # counting discussion must never lose the post itself
        log.exception("Could not remember Discord message %s for %s", message_id, paper_id)


class DiscussionCog(commands.Cog):
    """Counts members' replies under the bot's paper messages."""

    def __init__(self, client: PaperboyDiscord) -> None:
        self.client = client

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        guild_id = guild_id_of(message)
        keys = replied_under(message)
        if not keys:
            return
        where = channel_ref(guild_id, _parent_channel(message.channel))
        store = self.client.paperboy.store
        for key in keys:
            counted = await store.record_reply(
                where,
                str(message.author.id),
                message_key=str(key),
                reply_key=str(message.id),
            )
            if counted is not None:
                log.debug("Counted a reply about %s in %s", counted, where)
                return


def replied_under(message: discord.Message) -> list[int]:
    """The messages this one may be a reply under: the one it replies to, then its thread."""
    keys: list[int] = []
    if message.reference is not None and message.reference.message_id is not None:
        keys.append(message.reference.message_id)
    if _in_thread(message.channel) and message.channel.id not in keys:
        keys.append(message.channel.id)
    return keys


def _in_thread(channel: object) -> bool:
    if isinstance(channel, discord.Thread):
        return True
    # A channel discord.py has not cached (no guild data yet) may be a thread; asking costs one
    # indexed look-up, and a channel id never matches a remembered message id.
    return isinstance(channel, discord.PartialMessageable) and (
        channel.type is None or channel.type in _THREADS
    )


def _parent_channel(channel: object) -> int | None:
    """Replies in a thread count for the channel the thread belongs to."""
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    return getattr(channel, "id", None)


async def setup(client: PaperboyDiscord) -> None:
    await client.add_cog(DiscussionCog(client))
