"""``/papers-channel …``: subscribe, unsubscribe and schedule change what the whole channel gets.

A top-level command of its own because Discord sets default member permissions per top-level
command, never per subcommand: this one needs Manage Channels unless a server admin allows others.
"""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord_app.answers import answer, words
from adapters.discord_app.autocomplete import timezone_choices, topic_choices
from adapters.discord_app.client import PaperboyDiscord
from adapters.discord_app.permissions import may_manage_channel, posting_warning


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
        if await may_manage_channel(self.client, interaction):
            return True
        raise app_commands.MissingPermissions(["manage_channels"])

    @app_commands.command(description="Follow a topic in this channel")
    @app_commands.describe(topic='Words, "a phrase", OR, -exclude, author:name or cat:cs.CL')
    async def subscribe(self, interaction: discord.Interaction[Any], topic: str) -> None:
        text = words("subscribe", topic)
        await answer(
            self.client, interaction, text, public=True, adjust=posting_warning(interaction)
        )

    @app_commands.command(description="Stop following a topic here")
    @app_commands.describe(topic="One of this channel's topics")
    @app_commands.autocomplete(topic=topic_choices)
    async def unsubscribe(self, interaction: discord.Interaction[Any], topic: str) -> None:
        await answer(self.client, interaction, words("unsubscribe", topic), public=True)

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
        options = words(
            f"picks:{picks}" if picks is not None else "",
            "" if quiet_days is None else f"quiet:{'on' if quiet_days else 'off'}",
        )
        if days == "off":
            text = words("schedule off", options)
        else:
            when = words("".join((at or "").split()), timezone or "", days or "")
            text = words("schedule", when, options)
        await answer(
            self.client, interaction, text, public=True, adjust=posting_warning(interaction)
        )


async def setup(client: PaperboyDiscord) -> None:
    await client.add_cog(ChannelSettingsCog(client))
