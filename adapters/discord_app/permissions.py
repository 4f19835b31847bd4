"""Who may change a channel's settings, and whether the bot itself may post there.

Discord hides ``/papers-channel`` from members without Manage Channels (its default member
permissions). A member without it can still run it when a server admin allowed them in Server
Settings → Integrations; then the command has permission overrides in that server and Discord's
decision stands. Without overrides the request is refused here too, so a stale or misregistered
command cannot bypass the default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.replies import Notice, Reply
from bot.spelling import DISCORD

if TYPE_CHECKING:
    from adapters.discord_app.client import PaperboyDiscord

log = logging.getLogger(__name__)

OVERRIDES_TTL = 300.0  # seconds an answer about a server's command overrides is reused
MANAGE_CHANNELS_REFUSAL = (
    "Changing this channel's papers settings needs the **Manage Channels** permission. "
    f"A server admin can allow other roles for `{DISCORD.prefixes['channel']}` under "
    "Server Settings → Integrations → Paperboy."
)
_POSTING = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
}


class CommandOverrides:
    """Whether a server set permission overrides for a command, asked once per five minutes."""

    def __init__(self, ttl: float = OVERRIDES_TTL) -> None:
        self.ttl = ttl
        self._known: dict[tuple[int, int], tuple[bool, float]] = {}

    async def exist(self, client: PaperboyDiscord, guild_id: int, command_id: int) -> bool:
        now = client.loop.time()
        cached = self._known.get((guild_id, command_id))
        if cached is not None and cached[1] > now:
            return cached[0]
        assert client.application_id is not None
        try:
            found = await client.http.get_application_command_permissions(
                client.application_id, guild_id, command_id
            )
            has = bool(found.get("permissions"))
        except discord.NotFound:  # 10066: no overrides in this server
            has = False
        except discord.HTTPException as error:
            log.warning("Could not read command permissions in guild %s: %s", guild_id, error)
            return False
        self._known[(guild_id, command_id)] = (has, now + self.ttl)
        return has


async def may_manage_channel(
    client: PaperboyDiscord, interaction: discord.Interaction[Any]
) -> bool:
    """Manage Channels (or Administrator) in a server; anyone in their own DM with the bot."""
    if interaction.guild_id is None:
        return True
    permissions = interaction.permissions
    if permissions.administrator or permissions.manage_channels:
        return True
    data = cast(Mapping[str, Any], interaction.data or {})
    command_id = int(data.get("id", 0))
    return bool(command_id) and await client.overrides.exist(
        client, interaction.guild_id, command_id
    )


def posting_warning(interaction: discord.Interaction[Any]) -> Callable[[Reply], Reply]:
    """After a settings change: say so when the bot cannot post digests in this channel."""

    def adjust(reply: Reply) -> Reply:
        if interaction.guild_id is None or not isinstance(reply, Notice) or reply.kind != "success":
            return reply
        granted = interaction.app_permissions
        missing = [name for flag, name in _POSTING.items() if not getattr(granted, flag)]
        if not missing:
            return reply
        warning = (
            f"Heads-up: I cannot post here yet (missing {', '.join(missing)}), so digests will not "
            "arrive until someone gives me those in the channel settings."
        )
        return Notice(reply.text, reply.kind, reply.public, (*reply.lines, warning))

    return adjust
