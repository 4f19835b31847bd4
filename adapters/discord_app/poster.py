"""Digests out to Discord: the scheduler's :class:`~bot.ports.Poster` for text channels and DMs."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import discord

from adapters.discord_app.client import DM_WORKSPACE, PLATFORM, PaperboyDiscord
from adapters.discord_app.discussion import remember_posted
from adapters.discord_app.embeds import render
from adapters.discord_app.views import send_kwargs
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.replies import Reply
from bot.storage import Store


@dataclass
class DiscordPoster:
    """Posts digests to Discord text channels (or DMs) through a logged-in client.

    Failures become :class:`DeliveryError`: a channel that is gone (404) or closed to the bot
    (403) is permanent, so the scheduler pauses that channel; rate limits longer than the
    client's ``max_ratelimit_timeout`` and outages are not.

    A direct message (``channel.direct_user``, a journal club reminder) opens the DM channel
    with that person first (``POST /users/@me/channels``). Someone who does not take direct
    messages from the bot (403, code 50007) is a permanent failure: asking again will not help.

    A posted message that shows one paper is remembered in ``store`` (the client's, by default),
    so replies under it count as discussion.
    """

    client: discord.Client
    platform: str = PLATFORM
    store: Store | None = None

    def __post_init__(self) -> None:
        if self.store is None and isinstance(self.client, PaperboyDiscord):
            self.store = self.client.paperboy.store

    async def post(self, channel: ChannelRef, reply: Reply) -> None:
        if channel.platform != PLATFORM:
            raise DeliveryError(f"{channel} is not a Discord channel", permanent=True)
        try:
            direct = int(channel.direct_user) if channel.direct_user is not None else None
            channel_id = None if direct is not None else int(channel.channel)
            in_guild = direct is None and channel.workspace != DM_WORKSPACE
            guild_id = int(channel.workspace) if in_guild else None
        except ValueError:
            raise DeliveryError(
                f"{channel} does not name a Discord channel or user", permanent=True
            ) from None
        if self.client.user is None or self.client.is_closed():
            raise DeliveryError("the Discord client is not connected", permanent=False)
        message = render(reply)
        try:
            if direct is not None:
                target: discord.abc.Messageable = await self.client.create_dm(
                    discord.Object(direct)
                )
            else:
                assert channel_id is not None
                target = self.client.get_partial_messageable(channel_id, guild_id=guild_id)
            sent = await target.send(**send_kwargs(message))
        except discord.NotFound as error:
            raise DeliveryError(f"channel gone: {_why(error)}", permanent=True) from error
        except discord.Forbidden as error:
            what = "not allowed to post" if direct is None else f"cannot write to user {direct}"
            raise DeliveryError(f"{what}: {_why(error)}", permanent=True) from error
        except discord.RateLimited as error:
            raise DeliveryError(
                f"rate limited for {error.retry_after:.0f}s", permanent=False
            ) from error
        except discord.HTTPException as error:
            # 401: the token was reset, nothing will get through until it is replaced. Opening a
            # DM with someone Discord will not let the bot write to is a 400 (50033).
            refused = error.status == 401 or (direct is not None and error.status == 400)
            raise DeliveryError(f"Discord said {_why(error)}", permanent=refused) from error
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise DeliveryError(f"could not reach Discord: {error}", permanent=False) from error
        if self.store is not None and direct is None:
            await remember_posted(self.store, channel, sent.id, message)


def _why(error: discord.HTTPException) -> str:
    return f"{error.status} {error.text or error.response.reason} (code {error.code})"
