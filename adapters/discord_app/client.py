"""The Discord client (discord.py 2.x): login and close, intents, command sync, the connection.

It only translates. A slash command becomes the platform-neutral :class:`~bot.replies.Command`
Slack would send for the same words; :meth:`Paperboy.handle` answers with a
:data:`~bot.replies.Reply`, rendered by :mod:`adapters.discord_app.embeds` as embeds and
persistent upvote buttons (:mod:`adapters.discord_app.views`). The commands are cogs, one module
per command group, each with a ``setup(client)``: :mod:`~adapters.discord_app.papers` (``/papers
…``, open to everyone), :mod:`~adapters.discord_app.channel_settings` (``/papers-channel …``,
Manage Channels by default) and :mod:`~adapters.discord_app.link_shares` (pasted links). Scheduled
digests leave through :class:`~adapters.discord_app.poster.DiscordPoster`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import discord
from discord.ext import commands

from adapters.discord_app.permissions import CommandOverrides
from adapters.discord_app.tree import PaperboyTree
from bot import metrics
from bot.commands import Paperboy
from bot.config import ConfigError, Settings
from bot.models import ChannelRef
from bot.replies import Command

log = logging.getLogger(__name__)

PLATFORM = "discord"
DM_WORKSPACE = "dm"
ANSWER_WITHIN = 2.0  # seconds; Discord drops an interaction not answered (or deferred) in 3
RATE_LIMIT_WAIT = 30.0  # wait out shorter rate limits; longer ones fail the post for a retry
INVITE_SCOPES = ("bot", "applications.commands")
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    read_message_history=True,
)
_API_VERSION = re.compile(r"/api/v\d+$")


class _RateLimitWaits(logging.Filter):
    """Counts discord.py's rate-limit waits on /metrics. Its HTTP client waits out a 429 itself
    (up to ``max_ratelimit_timeout``) and tells only this log line, the seconds its third
    argument; the record is passed on untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        message, args = record.msg, record.args
        if (
            isinstance(message, str)
            and message.startswith("We are being rate limited.")
            and "Retrying in" in message
            and isinstance(args, tuple)
            and len(args) == 3
            and isinstance(args[2], int | float)
        ):
            metrics.waited(PLATFORM, float(args[2]))
        return True


_RATE_LIMIT_WAITS = _RateLimitWaits()


def channel_ref(guild_id: int | None, channel_id: int | None) -> ChannelRef:
    """Where a Discord conversation happens; direct messages use the workspace ``dm``."""
    return ChannelRef(PLATFORM, str(guild_id) if guild_id else DM_WORKSPACE, str(channel_id))


def guild_id_of(message: discord.Message) -> int | None:
    """The server a message was written in (a thread's too); None in a direct message."""
    if message.guild is not None:
        return message.guild.id
    guild_id = getattr(message.channel, "guild_id", None)
    return guild_id if isinstance(guild_id, int) else None


def paperboy_client(interaction: discord.Interaction[Any]) -> PaperboyDiscord:
    """The client an interaction arrived on, for code that gets only the interaction."""
    client = interaction.client
    if not isinstance(client, PaperboyDiscord):
        raise TypeError(f"expected a PaperboyDiscord client, got {type(client).__name__}")
    return client


class PaperboyDiscord(commands.Bot):
    """The Discord client: owns the command tree, the vote buttons and the core it talks to.

    Build it with :func:`build_discord_client`. ``api_url`` points discord.py's REST calls at
    another server (a proxy, or the fake Discord in tests). discord.py keeps one REST base per
    process (``discord.http.Route.BASE``), so the client sets it when it logs in and puts the old
    value back when it closes.
    """

    def __init__(
        self,
        paperboy: Paperboy,
        *,
        guild_id: int | None = None,
        api_url: str | None = None,
        answer_within: float = ANSWER_WITHIN,
        **client_options: Any,
    ) -> None:
        # Only what Paperboy uses: servers and channels, and messages for pasted links. Message
        # content is privileged: it is dropped at login when the developer portal has it off.
        intents = discord.Intents(
            guilds=True, guild_messages=True, dm_messages=True, message_content=True
        )
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            tree_cls=PaperboyTree,
            allowed_mentions=discord.AllowedMentions.none(),
            max_ratelimit_timeout=RATE_LIMIT_WAIT,
            **client_options,
        )
        logging.getLogger("discord.http").addFilter(_RATE_LIMIT_WAITS)  # once, however many
        self.paperboy = paperboy
        self.guild_id = guild_id
        self.api_base = _api_base(api_url) if api_url else None
        self.answer_within = answer_within
        self.reads_message_content = False
        self.overrides = CommandOverrides()
        self._previous_api_base: str | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def login(self, token: str) -> None:
        base = discord.http.Route.BASE
        if self.api_base is not None and self._previous_api_base is None and base != self.api_base:
            self._previous_api_base = base
            discord.http.Route.BASE = self.api_base
        await super().login(token)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._previous_api_base is not None and self.api_base == discord.http.Route.BASE:
                discord.http.Route.BASE = self._previous_api_base
                self._previous_api_base = None

    async def setup_hook(self) -> None:
        # Each module is a discord.py extension with its own setup(). They import this module, so
        # they are imported here; calling setup() directly (rather than load_extension) keeps
        # one copy of each module instead of re-executing it for every client.
        from adapters.discord_app import channel_settings, discussion, link_shares, papers, views

        self._choose_intents()
        for extension in (papers, channel_settings, link_shares, views, discussion):
            await extension.setup(self)
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Register the slash commands: in one guild when configured (instant), else globally."""
        where = "globally"
        guild = None
        if self.guild_id is not None:
            guild = discord.Object(self.guild_id)
            self.tree.copy_global_to(guild=guild)
            where = f"to guild {self.guild_id}"
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException as error:
            hint = " Is the bot in that server (DISCORD_GUILD_ID)?" if guild else ""
            log.error("Could not register Discord slash commands %s: %s.%s", where, error, hint)
            return
        log.info("Registered %d Discord slash commands %s.", len(synced), where)

    def _choose_intents(self) -> None:
        """Ask for message content only when the portal grants it; without it Discord refuses."""
        flags = self.application_flags
        self.reads_message_content = bool(
            flags.gateway_message_content or flags.gateway_message_content_limited
        )
        if not self.reads_message_content:
            self._connection._intents.message_content = False
            log.warning(
                "Discord: the Message Content intent is off for this application, so pasted "
                "paper links are only seen when they mention the bot or are sent to it directly. "
                "Turn it on under Bot → Privileged Gateway Intents in the developer portal."
            )

    async def on_ready(self) -> None:
        log.info(
            "Discord: connected as %s to %d server(s). Invite it with %s",
            self.user, len(self.guilds), self.invite_url(),
        )  # fmt: skip

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands (everything is a slash command); the cogs read links and replies."""

    def invite_url(self) -> str:
        """The OAuth2 URL that adds the bot with the scopes and permissions it needs."""
        if self.application_id is None:
            raise RuntimeError("log in first: the invite URL needs the application id")
        return discord.utils.oauth_url(
            self.application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES
        )

    # -- translating ----------------------------------------------------------------------

    def core_command(self, interaction: discord.Interaction[Any], text: str) -> Command:
        return Command(
            channel=channel_ref(interaction.guild_id, interaction.channel_id),
            user=str(interaction.user.id),
            text=text,
            user_name=interaction.user.display_name,
        )


# -- wiring ---------------------------------------------------------------------------------


class ShardedPaperboyDiscord(PaperboyDiscord, commands.AutoShardedBot):
    """The client when guilds are split across processes (``DISCORD_SHARD_COUNT``): each
    process runs the shards in ``DISCORD_SHARD_IDS``, all of them when that is unset."""


def build_discord_client(
    bot: Paperboy, settings: Settings, *, answer_within: float = ANSWER_WITHIN
) -> PaperboyDiscord:
    """The Discord client for ``bot``, from settings alone (nothing read from the environment)."""
    options: dict[str, Any] = {
        "guild_id": settings.discord_guild_id,
        "api_url": settings.discord_api_url,
        "answer_within": answer_within,
    }
    if settings.discord_shard_count is None:
        return PaperboyDiscord(bot, **options)
    shard_ids = list(settings.discord_shard_ids) if settings.discord_shard_ids else None
    return ShardedPaperboyDiscord(
        bot, shard_count=settings.discord_shard_count, shard_ids=shard_ids, **options
    )


@dataclass
class DiscordConnection:
    """A running Discord client: ``wait()`` until it stops, ``close()`` to stop it."""

    client: PaperboyDiscord
    task: asyncio.Task[None]

    async def wait(self) -> None:
        await self.task

    async def close(self) -> None:
        await self.client.close()
        if not self.task.done():
            try:  # the gateway loop ends once the socket is closed; a reconnect wait may not
                await asyncio.wait_for(asyncio.shield(self.task), timeout=5)
            except TimeoutError:
                self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # logged when it ended
            await self.task


async def start_discord(client: PaperboyDiscord, token: str) -> DiscordConnection:
    """Log in (so a bad token fails here, clearly), then run the gateway in a task."""
    try:
        await client.login(token)
    except discord.LoginFailure:
        await client.close()
        raise ConfigError(
            "DISCORD_TOKEN was rejected by Discord. Copy a fresh token from the developer portal "
            "(Bot → Reset Token)."
        ) from None
    except BaseException:
        await client.close()
        raise
    task = asyncio.create_task(client.connect(), name="paperboy-discord-gateway")
    task.add_done_callback(_log_gateway_end)
    return DiscordConnection(client, task)


def _log_gateway_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if isinstance(error, discord.PrivilegedIntentsRequired):
        log.error("Discord refused the gateway intents; see Bot → Privileged Gateway Intents.")
    elif error is not None:
        log.error("The Discord connection stopped: %s", error, exc_info=error)


def _api_base(url: str) -> str:
    url = url.rstrip("/")
    return url if _API_VERSION.search(url) else f"{url}/api/v10"
