"""Slash commands, driven through discord.py's own dispatch against a fake Discord."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import time, timedelta
from typing import Any

from discord import app_commands

from adapters.discord_app import MANAGE_CHANNELS_REFUSAL, PaperboyDiscord
from bot.commands import COMMANDS, Paperboy
from bot.search import SearchIndex
from bot.spelling import DISCORD
from bot.storage import Store
from tests.discord.conftest import (
    ADA,
    CHANNEL,
    EPHEMERAL,
    GRACE,
    GUILD_ID,
    MODERATOR_PERMISSIONS,
    Gateway,
    SlowLookup,
    buttons,
    callback,
    descriptions,
)
from tests.discord.fake_discord import APP_ID
from tests.papers import NOW, paper

RED = 0xE74C3C
GREEN = 0x2ECC71

# -- registration ---------------------------------------------------------------------------


async def test_commands_are_registered_in_the_configured_guild(gateway: Gateway) -> None:
    registered = {c["name"]: c for c in gateway.api.registered[str(GUILD_ID)]}

    assert set(registered) == {"papers", "papers-channel"}
    assert "global" not in gateway.api.registered
    papers, channel = registered["papers"], registered["papers-channel"]
    assert papers["default_member_permissions"] is None  # open to everyone
    assert int(channel["default_member_permissions"]) == 1 << 4  # Manage Channels
    assert {o["name"] for o in papers["options"]} == {
        "search",
        "show",
        "similar",
        "vote",
        "share",
        "trending",
        "top",
        "subscriptions",
        "digest",
        "status",
        "help",
        "save",
        "saved",
        "unsave",
        "read",
        "export",
        "present",
        "club",
    }
    assert {o["name"] for o in channel["options"]} == {"subscribe", "unsubscribe", "schedule"}
    schedule = next(o for o in channel["options"] if o["name"] == "schedule")
    options = {o["name"]: o for o in schedule["options"]}
    assert options["timezone"]["autocomplete"] is True
    assert [c["value"] for c in options["days"]["choices"]] == ["weekdays", "daily", "off"]


async def test_commands_are_registered_globally_without_a_guild(
    bot: Paperboy, discord_api: Any, discord_settings: Any, connect: Callable[..., Any]
) -> None:
    await connect(bot, settings=replace(discord_settings, discord_guild_id=None))

    assert list(discord_api.registered) == ["global"]
    assert discord_api.matching("PUT", f"/applications/{APP_ID}/commands")


# Core commands Discord does not offer yet (each must say why here); empty means parity.
NOT_YET_ON_DISCORD: set[str] = set()


async def test_every_core_command_has_one_discord_subcommand(gateway: Gateway) -> None:
    assert gateway.client is not None
    found: dict[str, app_commands.Command[Any, ..., Any]] = {}
    for command in gateway.client.tree.walk_commands():
        if isinstance(command, app_commands.Command):
            assert command.name not in found, f"two Discord commands are called {command.name}"
            found[command.name] = command
    offered = {name for name, spec in COMMANDS.items() if spec.offered_on("discord")}
    assert set(found) == offered - NOT_YET_ON_DISCORD
    for name, spec in COMMANDS.items():
        if name in NOT_YET_ON_DISCORD or name not in offered:
            continue
        parent = found[name].parent
        assert parent is not None
        assert (parent.name == "papers-channel") == spec.manages_channel, name


async def test_help_and_hints_spell_each_command_as_discord_registered_it(
    gateway: Gateway,
) -> None:
    """The core's Discord spelling table is data; this keeps it true to the registered commands."""
    assert gateway.client is not None
    for command in gateway.client.tree.walk_commands():
        if not isinstance(command, app_commands.Command):
            continue
        spec = COMMANDS[command.name]
        options = " ".join(
            p.display_name if p.required else f"[{p.display_name}]" for p in command.parameters
        )
        registered = f"/{command.qualified_name} {options}".rstrip()
        assert DISCORD.usage(spec.group, spec.name, spec.usage) == registered


async def test_the_invite_url_asks_for_the_scopes_and_permissions_needed(gateway: Gateway) -> None:
    assert gateway.client is not None
    url = gateway.client.invite_url()

    assert f"client_id={APP_ID}" in url
    assert "scope=bot+applications.commands" in url
    # View Channel, Send Messages, Embed Links, Read Message History, Send Messages in Threads
    assert "permissions=274877991936" in url


# -- /papers --------------------------------------------------------------------------------


async def test_search_answers_privately_with_cards_and_vote_buttons(gateway: Gateway) -> None:
    asked = gateway.command("papers", "search", {"query": "attention sinks"})
    answer = callback(await gateway.api.answers(asked))

    assert answer["type"] == 4  # CHANNEL_MESSAGE_WITH_SOURCE
    data = answer["data"]
    assert data["flags"] & EPHEMERAL
    assert data["content"].startswith("**Results for")
    first = data["embeds"][0]
    assert first["title"] == "1. Efficient Streaming Language Models with Attention Sinks"
    assert first["url"] == "https://arxiv.org/abs/0001.00001"
    assert "**attention** **sinks**" in first["description"]
    assert buttons(data)[0] == {
        "type": 2,
        "style": 2,
        "disabled": False,
        "label": "#1 ▲ 0",
        "custom_id": "paperboy:vote:0001.00001",
    }
    assert data["allowed_mentions"] == {"parse": []}


async def test_search_reads_a_typo_and_says_so(gateway: Gateway) -> None:
    asked = gateway.command("papers", "search", {"query": "atention sinks"})
    data = callback(await gateway.api.answers(asked))["data"]

    assert data["content"].startswith(
        "**Results for attention sinks**\nRead “atention” as “attention”"
    )
    assert (
        data["embeds"][0]["title"] == "1. Efficient Streaming Language Models with Attention Sinks"
    )


async def test_search_with_share_posts_for_the_channel(gateway: Gateway) -> None:
    asked = gateway.command("papers", "search", {"query": "retrieval", "share": True})
    data = callback(await gateway.api.answers(asked))["data"]

    assert not data.get("flags", 0) & EPHEMERAL
    assert len(data["embeds"]) >= 2
    assert "Showing" not in data["content"]  # every match fits


async def test_show_gives_the_whole_paper(gateway: Gateway) -> None:
    asked = gateway.command("papers", "show", {"paper": "https://arxiv.org/abs/0001.00003v1"})
    data = callback(await gateway.api.answers(asked))["data"]

    (embed,) = data["embeds"]
    assert embed["title"] == "Promptagator: Few-shot Dense Retrieval From 8 Examples"
    assert embed["description"].endswith("trained from eight examples.")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Authors"] == "Zhuyun Dai, Vincent Y. Zhao, Ji Ma"
    assert "[PDF](https://arxiv.org/pdf/0001.00003)" in fields["Links"]
    assert fields["Votes"] == "▲ 88 on HF · 0 team votes"
    assert embed["footer"]["text"] == "arXiv 0001.00003"
    assert [(b["label"], b["custom_id"]) for b in buttons(data)] == [
        ("▲ Upvote · 0", "paperboy:vote:0001.00003"),
        ("🔖 Save", "paperboy:save:0001.00003"),
    ]
    assert data["flags"] & EPHEMERAL


async def test_vote_toggles_and_says_so(gateway: Gateway, store: Store) -> None:
    first = gateway.command("papers", "vote", {"paper": "0001.00002"})
    upvoted = descriptions(callback(await gateway.api.answers(first))["data"])
    again = gateway.command("papers", "vote", {"paper": "0001.00002"})
    removed = descriptions(callback(await gateway.api.answers(again))["data"])

    assert upvoted.startswith("Upvoted “Tutel")
    assert removed.startswith("Removed your vote on “Tutel")
    assert await store.vote_counts(CHANNEL, ["0001.00002"]) == {}


async def test_share_posts_the_paper_with_who_shared_it(gateway: Gateway, store: Store) -> None:
    asked = gateway.command("papers", "share", {"paper": "0001.00005", "comment": "RAG baselines"})
    data = callback(await gateway.api.answers(asked))["data"]

    assert not data.get("flags", 0) & EPHEMERAL
    fields = {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}
    assert fields["Shared by"] == f"<@{ADA}>"
    assert fields["Comments"] == "> RAG baselines"
    shares = await store.shares_since(CHANNEL, NOW - timedelta(days=1))
    assert [(s.paper_id, s.user, s.comment) for s in shares] == [
        ("0001.00005", str(ADA), "RAG baselines")
    ]


async def test_trending_top_subscriptions_digest_and_status_answer(gateway: Gateway) -> None:
    trending = gateway.command("papers", "trending", {"span": "week"})
    status = gateway.command("papers", "status", {})
    top = gateway.command("papers", "top", {})
    subscriptions = gateway.command("papers", "subscriptions", {})
    digest = gateway.command("papers", "digest", {})

    trending_data = callback(await gateway.api.answers(trending))["data"]
    assert trending_data["content"].startswith("**Trending this week**")
    assert len(trending_data["embeds"]) == 8
    top_data = callback(await gateway.api.answers(top))["data"]
    assert "Nobody upvoted a paper this week" in descriptions(top_data)
    subs_data = callback(await gateway.api.answers(subscriptions))["data"]
    assert "follows no topics" in descriptions(subs_data)
    digest_data = callback(await gateway.api.answers(digest))["data"]
    assert "Preview" in digest_data["content"] + descriptions(digest_data)
    status_data = callback(await gateway.api.answers(status))["data"]
    assert "Papers stored: 8" in descriptions(status_data)
    for data in (trending_data, top_data, subs_data, digest_data, status_data):
        assert data["flags"] & EPHEMERAL


async def test_help_is_private_and_speaks_discord(gateway: Gateway) -> None:
    asked = gateway.command("papers", "help", {})
    data = callback(await gateway.api.answers(asked))["data"]

    text = descriptions(data)
    assert data["flags"] & EPHEMERAL
    assert "`/papers search query [share]` — Find papers" in text
    assert "`/papers-channel schedule [time] [timezone] [days] [picks] [quiet_days]`" in text
    assert "search <query>" not in text


# -- bad input ------------------------------------------------------------------------------


async def _error_text(gateway: Gateway, asked: dict[str, Any]) -> str:
    answer = callback(await gateway.api.answers(asked))
    assert answer["type"] == 4
    assert answer["data"]["flags"] & EPHEMERAL
    assert answer["data"]["embeds"][0]["color"] == RED
    return descriptions(answer["data"])


async def test_bad_input_is_answered_clearly_and_privately(gateway: Gateway) -> None:
    empty = gateway.command("papers", "search", {"query": "   "})
    unknown = gateway.command("papers", "show", {"paper": "2401.99999"})
    nonsense = gateway.command("papers", "vote", {"paper": "attention please"})
    bad_time = gateway.command(
        "papers-channel",
        "schedule",
        {"time": "25:99", "timezone": "UTC"},
        permissions=MODERATOR_PERMISSIONS,
    )
    bad_zone = gateway.command(
        "papers-channel",
        "schedule",
        {"time": "09:00", "timezone": "Europe/Berln"},
        permissions=MODERATOR_PERMISSIONS,
    )
    half = gateway.command(
        "papers-channel", "schedule", {"days": "daily"}, permissions=MODERATOR_PERMISSIONS
    )

    assert "What should I search for?" in await _error_text(gateway, empty)
    assert "could not find paper `2401.99999`" in await _error_text(gateway, unknown)
    assert "is not a paper id or link" in await _error_text(gateway, nonsense)
    assert "`25:99` is not a time of day" in await _error_text(gateway, bad_time)
    zone = await _error_text(gateway, bad_zone)
    assert "`Europe/Berln` is not a timezone I know" in zone
    assert "`Europe/Berlin`" in zone
    assert "Usage: `schedule HH:MM TIMEZONE" in await _error_text(gateway, half)


# -- channel settings and who may change them -----------------------------------------------


async def test_a_member_without_manage_channels_is_refused(gateway: Gateway, store: Store) -> None:
    asked = gateway.command("papers-channel", "subscribe", {"topic": "cat:cs.CL"})
    answer = callback(await gateway.api.answers(asked))

    assert answer["data"]["flags"] & EPHEMERAL
    assert descriptions(answer["data"]) == MANAGE_CHANNELS_REFUSAL
    assert await store.subscriptions(CHANNEL) == []
    command_id = gateway.command_id("papers-channel")
    assert gateway.api.matching(
        "GET", f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands/{command_id}/permissions"
    )


async def test_a_server_override_lets_a_member_change_settings(
    gateway: Gateway, store: Store
) -> None:
    command_id = int(gateway.command_id("papers-channel"))
    gateway.api.command_overrides[command_id] = [
        {"id": str(GUILD_ID), "type": 1, "permission": True}
    ]

    asked = gateway.command("papers-channel", "subscribe", {"topic": "cat:cs.CL"})
    answer = callback(await gateway.api.answers(asked))

    assert answer["data"]["embeds"][0]["color"] == GREEN
    assert [s.query for s in await store.subscriptions(CHANNEL)] == ["cat:cs.CL"]


async def test_subscribe_then_unsubscribe_with_autocomplete(gateway: Gateway, store: Store) -> None:
    subscribed = gateway.command(
        "papers-channel",
        "subscribe",
        {"topic": '"dense retrieval" OR RAG'},
        permissions=MODERATOR_PERMISSIONS,
        as_user=GRACE,
    )
    answer = callback(await gateway.api.answers(subscribed))
    assert not answer["data"].get("flags", 0) & EPHEMERAL  # the channel sees the change
    assert "Subscribed this channel to" in descriptions(answer["data"])

    typed = gateway.autocomplete("papers-channel", "unsubscribe", "topic", "rag")
    choices = callback(await gateway.api.answers(typed))
    assert choices == {
        "type": 8,  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
        "data": {
            "choices": [
                {"name": '1. "dense retrieval" OR RAG', "value": '"dense retrieval" OR RAG'}
            ]
        },
    }

    removed = gateway.command(
        "papers-channel",
        "unsubscribe",
        {"topic": choices["data"]["choices"][0]["value"]},
        permissions=MODERATOR_PERMISSIONS,
        as_user=GRACE,
    )
    assert "Unsubscribed" in descriptions(callback(await gateway.api.answers(removed))["data"])
    assert await store.subscriptions(CHANNEL) == []


async def test_schedule_with_timezone_autocomplete(gateway: Gateway, store: Store) -> None:
    typed = gateway.autocomplete(
        "papers-channel", "schedule", "timezone", "berl", {"time": "09:00"}
    )
    choices = callback(await gateway.api.answers(typed))["data"]["choices"]
    assert choices == [{"name": "Europe/Berlin", "value": "Europe/Berlin"}]

    asked = gateway.command(
        "papers-channel",
        "schedule",
        {"time": "7:30 am", "timezone": "Europe/Berlin", "days": "daily"},
        permissions=MODERATOR_PERMISSIONS,
    )
    answer = callback(await gateway.api.answers(asked))

    assert "Daily picks every day at 07:30 (Europe/Berlin)" in descriptions(answer["data"])
    settings = await store.channel_settings(CHANNEL)
    assert settings is not None
    assert (settings.schedule.at, settings.schedule.timezone, settings.schedule.days) == (
        time(7, 30),
        "Europe/Berlin",
        "daily",
    )

    off = gateway.command(
        "papers-channel", "schedule", {"days": "off"}, permissions=MODERATOR_PERMISSIONS
    )
    assert "off" in descriptions(callback(await gateway.api.answers(off))["data"])


async def test_settings_change_warns_when_the_bot_cannot_post_here(gateway: Gateway) -> None:
    asked = gateway.command(
        "papers-channel",
        "subscribe",
        {"topic": "cat:cs.IR"},
        permissions=MODERATOR_PERMISSIONS,
        app_permissions=1 << 10,  # View Channel only
    )
    text = descriptions(callback(await gateway.api.answers(asked))["data"])

    assert "missing Send Messages, Embed Links" in text


async def test_anyone_may_change_their_own_dm(gateway: Gateway, store: Store) -> None:
    asked = gateway.command("papers-channel", "subscribe", {"topic": "cat:cs.CV"}, dm=True)
    answer = callback(await gateway.api.answers(asked))

    assert "Subscribed" in descriptions(answer["data"])
    dm_channel = await store.all_subscriptions()
    assert [(s.channel.workspace, s.query) for s in dm_channel] == [("dm", "cat:cs.CV")]


async def test_paper_autocomplete_offers_titles_and_sends_ids(gateway: Gateway) -> None:
    typed = gateway.autocomplete("papers", "show", "paper", "streaming", permissions=0)
    choices = callback(await gateway.api.answers(typed))["data"]["choices"]

    assert choices[0] == {
        "name": "Efficient Streaming Language Models with Attention Sinks · 0001.00001",
        "value": "0001.00001",
    }


# -- within three seconds -------------------------------------------------------------------


async def test_slow_work_is_deferred_then_followed_up(
    store: Store, index: SearchIndex, gateway: Gateway, connect: Callable[..., Any]
) -> None:
    new = paper(1, id="2411.00042", title="A Paper Only arXiv Knows")
    lookup = SlowLookup([new])
    client: PaperboyDiscord = await connect(
        Paperboy(store, index, lookup=lookup), answer_within=0.05
    )
    gateway.client = client

    asked = gateway.command("papers", "show", {"paper": "2411.00042"})
    (deferred,) = await gateway.api.answers(asked)
    assert deferred.body == {"type": 5, "data": {"flags": EPHEMERAL}}  # "thinking…", privately
    lookup.release.set()
    calls = await gateway.api.answers(asked, count=2)

    edit = calls[1]
    assert (edit.method, edit.path.rsplit("/", 1)[-1]) == ("PATCH", "@original")
    assert edit.body["embeds"][0]["title"] == "A Paper Only arXiv Knows"


async def test_an_error_after_a_public_defer_is_shown_privately(
    store: Store, index: SearchIndex, gateway: Gateway, connect: Callable[..., Any]
) -> None:
    lookup = SlowLookup()
    gateway.client = await connect(Paperboy(store, index, lookup=lookup), answer_within=0.05)

    asked = gateway.command("papers", "share", {"paper": "2411.00043"})
    (deferred,) = await gateway.api.answers(asked)
    assert deferred.body == {"type": 5}  # sharing is public: no ephemeral flag
    lookup.release.set()
    calls = await gateway.api.answers(asked, count=3)

    assert [c.method for c in calls[1:]] == ["DELETE", "POST"]
    assert calls[2].body["flags"] & EPHEMERAL
    assert "could not find paper `2411.00043`" in calls[2].body["embeds"][0]["description"]


async def test_schedule_sets_picks_and_quiet_days(gateway: Gateway, store: Store) -> None:
    asked = gateway.command(
        "papers-channel",
        "schedule",
        {"picks": 3, "quiet_days": False},
        permissions=MODERATOR_PERMISSIONS,
    )
    text = descriptions(callback(await gateway.api.answers(asked))["data"])
    assert "Up to 3 papers" in text and "silence on days with nothing new" in text
    settings = await store.channel_settings(CHANNEL)
    assert settings is not None
    assert (settings.top_n, settings.quiet_notice) == (3, False)


async def test_hints_name_the_discord_command_for_channel_settings(gateway: Gateway) -> None:
    asked = gateway.command("papers", "subscriptions", {})
    text = descriptions(callback(await gateway.api.answers(asked))["data"])
    assert "`/papers-channel subscribe <topic>`" in text
    assert "`/papers subscribe" not in text
