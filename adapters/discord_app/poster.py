"""Digests out to Discord: the scheduler's :class:`~bot.ports.Poster` for text channels and DMs."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import discord

from adapters.discord_app.client import DM_WORKSPACE, PLATFORM
from adapters.discord_app.embeds import render
from adapters.discord_app.views import send_kwargs
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.replies import Reply


@dataclass
class DiscordPoster:
    """Posts digests to Discord text channels (or DMs) through a logged-in client.

    Failures become :class:`DeliveryError`: a channel that is gone (404) or closed to the bot
    (403) is permanent, so the scheduler pauses that channel; rate limits longer than the
    client's ``max_ratelimit_timeout`` and outages are not.
    """

    client: discord.Client
    platform: str = PLATFORM

    async def post(self, channel: ChannelRef, reply: Reply) -> None:
        if channel.platform != PLATFORM:
            raise DeliveryError(f"{channel} is not a Discord channel", permanent=True)
        try:
            channel_id = int(channel.channel)
            guild_id = None if channel.workspace == DM_WORKSPACE else int(channel.workspace)
        except ValueError:
            raise DeliveryError(
                f"{channel} does not name a Discord channel", permanent=True
            ) from None
        if self.client.user is None or self.client.is_closed():
            raise DeliveryError("the Discord client is not connected", permanent=False)
        target = self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            await target.send(**send_kwargs(render(reply)))
        except discord.NotFound as error:
            raise DeliveryError(f"channel gone: {_why(error)}", permanent=True) from error
        except discord.Forbidden as error:
            raise DeliveryError(f"not allowed to post: {_why(error)}", permanent=True) from error
        except discord.RateLimited as error:
            raise DeliveryError(
                f"rate limited for {error.retry_after:.0f}s", permanent=False
            ) from error
        except discord.HTTPException as error:
            # 401: the token was reset, nothing will get through until it is replaced.
            raise DeliveryError(
                f"Discord said {_why(error)}", permanent=error.status == 401
            ) from error
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise DeliveryError(f"could not reach Discord: {error}", permanent=False) from error


def _why(error: discord.HTTPException) -> str:
    return f"{error.status} {error.text or error.response.reason} (code {error.code})"
