"""The Discord adapter (discord.py 2.x): slash commands and buttons in, embeds out.

It only translates. A slash command becomes the platform-neutral :class:`~bot.replies.Command`
Slack would send for the same words; :meth:`Paperboy.handle` answers with a
:data:`~bot.replies.Reply`, rendered by :mod:`adapters.discord_embeds` as embeds and persistent
upvote buttons. Scheduled digests leave through :class:`DiscordPoster`, the same
:class:`~bot.ports.Poster` port the Slack adapter implements.

Two top-level commands, because Discord sets *default member permissions* per top-level command,
never per subcommand: ``/papers …`` is open to everyone (search, show, vote, share, trending, top,
subscriptions, digest, status, help); ``/papers-channel …`` changes the channel's settings
(subscribe, unsubscribe, schedule) and needs Manage Channels unless a server admin allows others
in Server Settings → Integrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import MISSING

from adapters.discord_embeds import DiscordMessage, VoteSpec, relabel, render
from bot.commands import COMMANDS, Paperboy, UserError
from bot.config import ConfigError, Settings
from bot.ids import find_paper_links, parse_paper_ref
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.query import QueryError
from bot.replies import (
    Command,
    Notice,
    PaperCard,
    PaperDetail,
    PaperList,
    Reply,
    VoteRecorded,
    shorten,
)
from bot.scheduling import timezone_suggestions

log = logging.getLogger(__name__)

PLATFORM = "discord"
DM_WORKSPACE = "dm"
ANSWER_WITHIN = 2.0  # seconds; Discord drops an interaction not answered (or deferred) in 3
RATE_LIMIT_WAIT = 30.0  # wait out shorter rate limits; longer ones fail the post for a retry
MAX_LINKS_PER_MESSAGE = 3
OVERRIDES_TTL = 300.0
CHOICES_LIMIT = 25
CHOICE_LIMIT = 100
INVITE_SCOPES = ("bot", "applications.commands")
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    read_message_history=True,
)
_POSTING = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
}
_VOTE_ID = re.compile(r"paperboy:vote:(?P<paper_id>\S{1,80})")
_API_VERSION = re.compile(r"/api/v\d+$")

MANAGE_CHANNELS_REFUSAL = (
    "Changing this channel's papers settings needs the **Manage Channels** permission. "
    "A server admin can allow other roles for `/papers-channel` under "
    "Server Settings → Integrations → Paperboy."
)
APOLOGY = "Sorry, something went wrong on my side. It is logged; please try again in a moment."


def channel_ref(guild_id: int | None, channel_id: int | None) -> ChannelRef:
    """Where a Discord conversation happens; direct messages use the workspace ``dm``."""
    return ChannelRef(PLATFORM, str(guild_id) if guild_id else DM_WORKSPACE, str(channel_id))


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
        )
        self.paperboy = paperboy
        self.guild_id = guild_id
        self.api_base = _api_base(api_url) if api_url else None
        self.answer_within = answer_within
        self.reads_message_content = False
        self._previous_api_base: str | None = None
        self._overrides: dict[tuple[int, int], tuple[bool, float]] = {}
        self._help_usage: dict[str, str] = {}

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
        self._choose_intents()
        await self.add_cog(PapersCog(self))
        await self.add_cog(ChannelSettingsCog(self))
        await self.add_cog(LinkSharesCog(self))
        self.add_dynamic_items(VoteButton)  # buttons on old messages keep working after a restart
        self._help_usage = discord_usages(self.tree)
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
        """No text commands (everything is a slash command); :class:`LinkSharesCog` reads links."""

    def invite_url(self) -> str:
        """The OAuth2 URL that adds the bot with the scopes and permissions it needs."""
        if self.application_id is None:
            raise RuntimeError("log in first: the invite URL needs the application id")
        return discord.utils.oauth_url(
            self.application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES
        )

    # -- answering ------------------------------------------------------------------------

    def core_command(self, interaction: discord.Interaction[Any], text: str) -> Command:
        return Command(
            channel=channel_ref(interaction.guild_id, interaction.channel_id),
            user=str(interaction.user.id),
            text=text,
            user_name=interaction.user.display_name,
        )

    async def answer(
        self,
        interaction: discord.Interaction[Any],
        text: str,
        *,
        public: bool = False,
        adjust: Callable[[Reply], Reply] | None = None,
    ) -> None:
        """Run ``text`` as a command and answer the interaction within Discord's 3 seconds.

        A fast answer is the interaction response itself. When the core takes longer (a live
        arXiv lookup), the interaction is deferred and the answer follows. ``public`` is what a
        successful answer will be, so the "thinking…" message starts out visible to the right
        people; an answer that turns out otherwise (an error after a public defer) replaces it.
        """
        work = asyncio.ensure_future(self.paperboy.handle(self.core_command(interaction, text)))
        done, _ = await asyncio.wait({work}, timeout=self.answer_within)
        if not done:
            await interaction.response.defer(ephemeral=not public, thinking=True)
        reply = await work
        message = render(discord_spelling(adjust(reply) if adjust else reply))
        if done:
            await interaction.response.send_message(
                **_send_kwargs(message), ephemeral=message.ephemeral
            )
        elif message.ephemeral == (not public):
            await interaction.edit_original_response(
                content=message.content, embeds=list(message.embeds), view=_view(message.votes)
            )
        else:
            await interaction.delete_original_response()
            await interaction.followup.send(**_send_kwargs(message), ephemeral=message.ephemeral)

    async def vote_clicked(self, interaction: discord.Interaction[Any], paper_id: str) -> None:
        """Toggle the clicker's vote, update the button's count in place, tell them privately."""
        work = asyncio.ensure_future(
            self.paperboy.handle(self.core_command(interaction, f"vote {paper_id}"))
        )
        done, _ = await asyncio.wait({work}, timeout=self.answer_within)
        if not done:
            await interaction.response.defer()  # the message will be edited, not answered
        reply = await work
        message = render(reply)
        if not isinstance(reply, VoteRecorded):
            if done:
                await interaction.response.send_message(**_send_kwargs(message), ephemeral=True)
            else:
                await interaction.followup.send(**_send_kwargs(message), ephemeral=True)
            return
        view = revoted_view(interaction.message, paper_id, reply.card.team_votes)
        if done:
            await interaction.response.edit_message(view=view)
        else:
            await interaction.edit_original_response(view=view)
        await interaction.followup.send(embeds=list(message.embeds), ephemeral=True)

    async def reply_with_help(self, interaction: discord.Interaction[Any]) -> None:
        await self.answer(interaction, "help", adjust=self.discord_help)

    def discord_help(self, reply: Reply) -> Reply:
        """The core's help, with each usage written the way it is typed on Discord."""
        if not isinstance(reply, Notice):
            return reply
        lines = []
        for line in reply.lines:
            for name, usage in self._help_usage.items():
                core_usage = f"`/papers {COMMANDS[name].usage}`"
                if line.startswith(core_usage):
                    line = f"`{usage}`" + line[len(core_usage) :]
                    break
            lines.append(line)
        return Notice(reply.text, reply.kind, reply.public, tuple(lines))

    # -- who may change a channel ---------------------------------------------------------

    async def may_manage_channel(self, interaction: discord.Interaction[Any]) -> bool:
        """Manage Channels (or Administrator) in a server; anyone in their own DM with the bot.

        Discord already hides ``/papers-channel`` from members without Manage Channels (its
        default member permissions). A member without it can still get here when a server admin
        allowed them in Server Settings → Integrations; then the command has permission
        overrides in that server and Discord's decision stands. Without overrides, the request
        is refused here too, so a stale or misregistered command cannot bypass the default.
        """
        if interaction.guild_id is None:
            return True
        permissions = interaction.permissions
        if permissions.administrator or permissions.manage_channels:
            return True
        data = cast(Mapping[str, Any], interaction.data or {})
        command_id = int(data.get("id", 0))
        return bool(command_id) and await self._has_overrides(interaction.guild_id, command_id)

    async def _has_overrides(self, guild_id: int, command_id: int) -> bool:
        now = self.loop.time()
        cached = self._overrides.get((guild_id, command_id))
        if cached is not None and cached[1] > now:
            return cached[0]
        assert self.application_id is not None
        try:
            found = await self.http.get_application_command_permissions(
                self.application_id, guild_id, command_id
            )
            has = bool(found.get("permissions"))
        except discord.NotFound:  # 10066: no overrides in this server
            has = False
        except discord.HTTPException as error:
            log.warning("Could not read command permissions in guild %s: %s", guild_id, error)
            return False
        self._overrides[(guild_id, command_id)] = (has, now + OVERRIDES_TTL)
        return has


class PaperboyTree(app_commands.CommandTree[PaperboyDiscord]):
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
            text = "That command is out of date. Please try again in a minute."
        else:
            log.error("Discord command %r failed", interaction.command, exc_info=error)
            text = APOLOGY
        await send_private(interaction, Notice(text, kind="error"))


async def send_private(interaction: discord.Interaction[Any], notice: Notice) -> None:
    message = render(notice)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(embeds=list(message.embeds), ephemeral=True)
        else:
            await interaction.response.send_message(embeds=list(message.embeds), ephemeral=True)
    except discord.HTTPException as error:
        log.warning("Could not tell the user about an error: %s", error)


# -- autocomplete (plain functions: they find the client on the interaction) ----------------


def _client(interaction: discord.Interaction[Any]) -> PaperboyDiscord:
    client = interaction.client
    if not isinstance(client, PaperboyDiscord):
        raise TypeError(f"expected a PaperboyDiscord client, got {type(client).__name__}")
    return client


async def paper_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Papers whose text matches what is typed so far; the value sent is the paper id."""
    text = current.strip()
    if not text or parse_paper_ref(text) is not None:
        return []
    client = _client(interaction)
    ref = channel_ref(interaction.guild_id, interaction.channel_id)
    try:
        found = await client.paperboy.search(ref, text, limit=10)
    except (UserError, QueryError):
        return []
    return [
        app_commands.Choice(
            name=shorten(f"{c.paper.title} · {c.paper.id}", CHOICE_LIMIT), value=c.paper.id
        )
        for c in found.cards
    ]


async def topic_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """This channel's topics; a topic too long for a choice value is sent as its number."""
    client = _client(interaction)
    subs = await client.paperboy.store.subscriptions(
        channel_ref(interaction.guild_id, interaction.channel_id)
    )
    needle = current.strip().lower()
    choices = []
    for number, sub in enumerate(subs, start=1):
        if needle and needle not in sub.query.lower():
            continue
        value = sub.query if len(sub.query) <= CHOICE_LIMIT else str(number)
        choices.append(
            app_commands.Choice(name=shorten(f"{number}. {sub.query}", CHOICE_LIMIT), value=value)
        )
    return choices[:CHOICES_LIMIT]


async def timezone_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=z, value=z) for z in timezone_suggestions(current, CHOICES_LIMIT)
    ]


# -- the commands ---------------------------------------------------------------------------


@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class PapersCog(
    commands.GroupCog, group_name="papers", group_description="Research papers for this channel"
):
    """``/papers …``: everything anyone in the channel may do."""

    def __init__(self, client: PaperboyDiscord) -> None:
        self.client = client
        super().__init__()

    @app_commands.command(description="Find papers, best match first")
    @app_commands.describe(
        query='Words, "a phrase", -exclude, OR, author:name, cat:cs.CL, since:2024-01-01',
        share="Show the results to the whole channel (default: only you)",
    )
    async def search(
        self, interaction: discord.Interaction[Any], query: str, share: bool = False
    ) -> None:
        await self.client.answer(
            interaction, _words("search", query, "--share" if share else ""), public=share
        )

    @app_commands.command(description="Show one paper in full")
    @app_commands.describe(
        paper="An arXiv id like 2401.01234, a paper link, or words from the title"
    )
    @app_commands.autocomplete(paper=paper_choices)
    async def show(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await self.client.answer(interaction, _words("show", paper))

    @app_commands.command(description="Papers like this one")
    @app_commands.describe(
        paper="An arXiv id like 2401.01234, a paper link, or words from the title"
    )
    @app_commands.autocomplete(paper=paper_choices)
    async def similar(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await self.client.answer(interaction, _words("similar", paper))

    @app_commands.command(description="Upvote a paper for your team (again to undo)")
    @app_commands.describe(
        paper="An arXiv id like 2401.01234, a paper link, or words from the title"
    )
    @app_commands.autocomplete(paper=paper_choices)
    async def vote(self, interaction: discord.Interaction[Any], paper: str) -> None:
        await self.client.answer(interaction, _words("vote", paper))

    @app_commands.command(description="Share a paper with the channel")
    @app_commands.describe(
        paper="An arXiv id like 2401.01234, a paper link, or words from the title",
        comment="Why the team should read it",
    )
    @app_commands.autocomplete(paper=paper_choices)
    async def share(
        self, interaction: discord.Interaction[Any], paper: str, comment: str | None = None
    ) -> None:
        await self.client.answer(
            interaction, _words("share", _first(paper), comment or ""), public=True
        )

    @app_commands.command(description="The most upvoted new papers")
    @app_commands.describe(span="Today or this week")
    async def trending(
        self, interaction: discord.Interaction[Any], span: Literal["today", "week"] = "today"
    ) -> None:
        await self.client.answer(interaction, _words("trending", span))

    @app_commands.command(description="Your team's most upvoted papers")
    @app_commands.describe(span="This week or this month")
    async def top(
        self, interaction: discord.Interaction[Any], span: Literal["week", "month"] = "week"
    ) -> None:
        await self.client.answer(interaction, _words("top", span))

    @app_commands.command(description="List this channel's topics and schedule")
    async def subscriptions(self, interaction: discord.Interaction[Any]) -> None:
        await self.client.answer(interaction, "subscriptions")

    @app_commands.command(description="Preview this channel's next daily picks")
    async def digest(self, interaction: discord.Interaction[Any]) -> None:
        await self.client.answer(interaction, "digest")

    @app_commands.command(description="Sources, papers stored, and this channel's next digest")
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        await self.client.answer(interaction, "status")

    @app_commands.command(name="help", description="Show what Paperboy can do")
    async def help_(self, interaction: discord.Interaction[Any]) -> None:
        await self.client.reply_with_help(interaction)


@app_commands.default_permissions(manage_channels=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class ChannelSettingsCog(
    commands.GroupCog,
    group_name="papers-channel",
    group_description="This channel's topics and daily picks",
):
    """``/papers-channel …``: changes what the whole channel receives."""

    def __init__(self, client: PaperboyDiscord) -> None:
        self.client = client
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if await self.client.may_manage_channel(interaction):
            return True
        raise app_commands.MissingPermissions(["manage_channels"])

    @app_commands.command(description="Follow a topic in this channel")
    @app_commands.describe(topic='Words, "a phrase", OR, -exclude, author:name or cat:cs.CL')
    async def subscribe(self, interaction: discord.Interaction[Any], topic: str) -> None:
        await self.client.answer(
            interaction,
            _words("subscribe", topic),
            public=True,
            adjust=_posting_warning(interaction),
        )

    @app_commands.command(description="Stop following a topic here")
    @app_commands.describe(topic="One of this channel's topics")
    @app_commands.autocomplete(topic=topic_choices)
    async def unsubscribe(self, interaction: discord.Interaction[Any], topic: str) -> None:
        await self.client.answer(interaction, _words("unsubscribe", topic), public=True)

    @app_commands.command(description="When this channel gets its daily picks")
    @app_commands.rename(at="time")
    @app_commands.describe(
        at="24-hour time, like 09:00",
        timezone="Like Europe/Berlin or America/New_York",
        days="Weekdays, every day, or off",
        picks="How many papers each daily picks post has (1-10, default 5)",
        quiet_days="Post one line on days with nothing new (default on)",
    )
    @app_commands.autocomplete(timezone=timezone_choices)
    async def schedule(
        self,
        interaction: discord.Interaction[Any],
        at: str | None = None,
        timezone: str | None = None,
        days: Literal["weekdays", "daily", "off"] | None = None,
        picks: app_commands.Range[int, 1, 10] | None = None,
        quiet_days: bool | None = None,
    ) -> None:
        options = _words(
            f"picks:{picks}" if picks is not None else "",
            "" if quiet_days is None else f"quiet:{'on' if quiet_days else 'off'}",
        )
        if days == "off":
            text = _words("schedule off", options)
        else:
            when = _words("".join((at or "").split()), timezone or "", days or "")
            text = _words("schedule", when, options)
        await self.client.answer(
            interaction, text, public=True, adjust=_posting_warning(interaction)
        )


class LinkSharesCog(commands.Cog):
    """Pasted arXiv / Hugging Face links become shares, answered with the paper.

    Needs the Message Content intent for links in ordinary messages; without it Discord still
    shows the bot messages that mention it and its direct messages.
    """

    def __init__(self, client: PaperboyDiscord) -> None:
        self.client = client

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        refs = find_paper_links(message.content)[:MAX_LINKS_PER_MESSAGE]
        if not refs:
            return
        guild_id = message.guild.id if message.guild else getattr(message.channel, "guild_id", None)
        where = channel_ref(guild_id, message.channel.id)
        cards: list[PaperCard] = []
        for ref in refs:
            cmd = Command(
                where, str(message.author.id), f"share {ref.id}", message.author.display_name
            )
            reply = await self.client.paperboy.handle(cmd)
            if isinstance(reply, PaperDetail):
                cards.append(reply.card)
            else:
                log.info("Not answering shared link %s in %s: %s", ref.id, where, reply)
        if not cards:
            return
        if len(cards) == 1:
            shared: Reply = PaperDetail(cards[0], public=True)
        else:
            shared = PaperList(f"{len(cards)} papers shared", tuple(cards), len(cards), public=True)
        rendered = render(shared)
        try:
            await message.channel.send(
                **_send_kwargs(rendered),
                reference=message.to_reference(fail_if_not_exists=False),
                mention_author=False,
            )
        except discord.HTTPException as error:
            log.info("Could not answer a shared link in %s: %s", where, error)


# -- the persistent upvote button -----------------------------------------------------------


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=_VOTE_ID):
    """An upvote button whose ``custom_id`` carries the paper id, so any process can answer it."""

    def __init__(self, paper_id: str, label: str | None = None, row: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=label or "▲ Upvote",
                custom_id=f"paperboy:vote:{paper_id}",
                row=row,
            )
        )
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> VoteButton:
        return cls(match["paper_id"], label=getattr(item, "label", None))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _client(interaction).vote_clicked(interaction, self.paper_id)


def revoted_view(message: discord.Message | None, paper_id: str, votes: int) -> discord.ui.View:
    """The message's buttons again, the clicked paper's count replaced, rows kept."""
    view = discord.ui.View(timeout=None)
    if message is None:
        view.add_item(VoteButton(paper_id, relabel(None, votes)))
        return view
    for row, component in enumerate(message.components):
        if not isinstance(component, discord.ActionRow):
            continue
        for child in component.children:
            if not isinstance(child, discord.Button):
                continue
            match = _VOTE_ID.fullmatch(child.custom_id or "")
            if match:
                label = (
                    relabel(child.label, votes) if match["paper_id"] == paper_id else child.label
                )
                view.add_item(VoteButton(match["paper_id"], label, row=row))
            elif child.url:
                view.add_item(discord.ui.Button(label=child.label, url=child.url, row=row))
    return view


def _view(votes: Sequence[VoteSpec]) -> discord.ui.View | None:
    if not votes:
        return None
    view = discord.ui.View(timeout=None)  # never times out: the buttons are dynamic items
    for vote in votes:
        view.add_item(VoteButton(vote.paper_id, vote.label, row=vote.row))
    return view


def _send_kwargs(message: DiscordMessage) -> dict[str, Any]:
    view = _view(message.votes)
    return {
        "content": message.content,
        "embeds": list(message.embeds),
        "view": view if view is not None else MISSING,
        "allowed_mentions": discord.AllowedMentions.none(),
    }


# -- digests: the scheduler's way out -------------------------------------------------------


@dataclass
class DiscordPoster:
    """Posts digests to Discord text channels (or DMs) through a logged-in client.

    Failures become :class:`DeliveryError`: a channel that is gone (404) or closed to the bot
    (403) is permanent, so the scheduler pauses that channel; rate limits longer than
    ``RATE_LIMIT_WAIT`` seconds and outages are not.
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
            await target.send(**_send_kwargs(render(reply)))
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


# -- wiring ---------------------------------------------------------------------------------


def build_discord_client(
    bot: Paperboy, settings: Settings, *, answer_within: float = ANSWER_WITHIN
) -> PaperboyDiscord:
    """The Discord client for ``bot``, from settings alone (nothing read from the environment)."""
    return PaperboyDiscord(
        bot,
        guild_id=settings.discord_guild_id,
        api_url=settings.discord_api_url,
        answer_within=answer_within,
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


def discord_spelling(reply: Reply) -> Reply:
    """The core names commands as ``/papers verb``; channel settings live under /papers-channel."""
    if isinstance(reply, Notice):
        lines = tuple(_respell(line) for line in reply.lines)
        return dataclasses.replace(reply, text=_respell(reply.text), lines=lines)
    if isinstance(reply, PaperList):
        return dataclasses.replace(
            reply,
            empty_text=_respell(reply.empty_text),
            more_hint=_respell(reply.more_hint) if reply.more_hint else None,
            footer=_respell(reply.footer) if reply.footer else None,
        )
    return reply


def _respell(text: str) -> str:
    for spec in COMMANDS.values():
        if spec.manages_channel:
            text = text.replace(f"`/papers {spec.name}", f"`/papers-channel {spec.name}")
    return text


def discord_usages(tree: app_commands.CommandTree[Any]) -> dict[str, str]:
    """How each core command is typed on Discord: ``search`` → ``/papers search query [share]``."""
    usages = {}
    for command in tree.walk_commands():
        if isinstance(command, app_commands.Command) and command.name in COMMANDS:
            params = " ".join(
                p.display_name if p.required else f"[{p.display_name}]" for p in command.parameters
            )
            usages[command.name] = f"/{command.qualified_name} {params}".rstrip()
    return usages


def _posting_warning(interaction: discord.Interaction[Any]) -> Callable[[Reply], Reply]:
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


def _words(*parts: str) -> str:
    return " ".join(part.strip() for part in parts if part and part.strip())


def _first(text: str) -> str:
    words = text.split()
    return words[0] if words else ""


def _api_base(url: str) -> str:
    url = url.rstrip("/")
    return url if _API_VERSION.search(url) else f"{url}/api/v10"
