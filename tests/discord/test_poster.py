"""Digests reach Discord channels through the Poster port; failures are judged per channel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from prometheus_client import REGISTRY

from adapters.discord_app import (
    DiscordPoster,
    PaperboyDiscord,
    build_discord_client,
    start_discord,
)
from bot.commands import Paperboy
from bot.config import ConfigError, Settings
from bot.models import ChannelRef
from bot.ports import DeliveryError, Poster
from bot.replies import Notice, PaperCard, PaperList
from tests.discord.conftest import (
    CHANNEL,
    CHANNEL_ID,
    GUILD_ID,
    Gateway,
    buttons,
    callback,
    fixture,
)
from tests.discord.fake_discord import ChannelError, FakeDiscord
from tests.papers import seed_papers

GONE = 1300000000000000404
CLOSED = 1300000000000000403
BUSY = 1300000000000000429


def _digest() -> PaperList:
    cards = tuple(PaperCard(p, team_votes=1, reason="New today") for p in seed_papers()[:3])
    return PaperList("Today's trending papers", cards, total=3, public=True)


@pytest.fixture
def poster(gateway: Gateway) -> DiscordPoster:
    assert gateway.client is not None
    api = gateway.api
    api.channel_errors[GONE] = ChannelError(404, {"message": "Unknown Channel", "code": 10003})
    api.channel_errors[CLOSED] = ChannelError(403, {"message": "Missing Access", "code": 50001})
    api.channel_errors[BUSY] = ChannelError(
        429,
        {"message": "You are being rate limited.", "retry_after": 120.0, "global": False},
        {"Via": "1.1 google", "Retry-After": "120", "X-RateLimit-Scope": "shared"},
    )
    return DiscordPoster(gateway.client)


def _in(channel_id: int) -> ChannelRef:
    return ChannelRef("discord", str(GUILD_ID), str(channel_id))


async def test_a_digest_is_posted_with_embeds_and_vote_buttons(
    poster: DiscordPoster, discord_api: FakeDiscord
) -> None:
    port: Poster = poster
    await port.post(CHANNEL, _digest())

    (sent,) = discord_api.matching("POST", f"/channels/{CHANNEL_ID}/messages")
    assert port.platform == "discord"
    assert sent.body["content"] == "**Today's trending papers**"
    assert [e["title"][:3] for e in sent.body["embeds"]] == ["1. ", "2. ", "3. "]
    assert "*Why:* New today" in sent.body["embeds"][0]["description"]
    assert [b["label"] for b in buttons(sent.body)] == [
        *("#1 ▲ 1", "#2 ▲ 1", "#3 ▲ 1"),
        *("#1 🔖", "#2 🔖", "#3 🔖"),
    ]
    assert "flags" not in sent.body or not sent.body["flags"] & 64
    assert sent.body["allowed_mentions"] == {"parse": []}


async def test_a_dm_digest_goes_to_the_dm_channel(
    poster: DiscordPoster, discord_api: FakeDiscord
) -> None:
    await poster.post(ChannelRef("discord", "dm", "1300000000000000777"), Notice("Hi", public=True))

    assert discord_api.matching("POST", "/channels/1300000000000000777/messages")


@pytest.mark.parametrize(
    ("channel_id", "permanent", "reason"),
    [
        (GONE, True, "channel gone: 404 Unknown Channel (code 10003)"),
        (CLOSED, True, "not allowed to post: 403 Missing Access (code 50001)"),
        (BUSY, False, "rate limited for 120s"),
    ],
)
async def test_failures_are_judged_per_channel(
    poster: DiscordPoster, channel_id: int, permanent: bool, reason: str
) -> None:
    with pytest.raises(DeliveryError) as raised:
        await poster.post(_in(channel_id), _digest())

    assert (raised.value.permanent, raised.value.reason) == (permanent, reason)
    await poster.post(CHANNEL, _digest())  # the next channel is unaffected


async def test_a_short_rate_limit_is_waited_out_and_shown_on_metrics(
    poster: DiscordPoster, discord_api: FakeDiscord
) -> None:
    discord_api.channel_errors[CHANNEL_ID] = ChannelError(
        429,
        {"message": "You are being rate limited.", "retry_after": 0.25, "global": False},
        {"Via": "1.1 google", "Retry-After": "1", "X-RateLimit-Scope": "user"},
        times=1,
    )
    labels = {"target": "discord"}

    def waits() -> tuple[float, float]:
        count = REGISTRY.get_sample_value("paperboy_rate_limit_waits_total", labels)
        seconds = REGISTRY.get_sample_value("paperboy_rate_limit_wait_seconds_total", labels)
        return count or 0.0, seconds or 0.0

    count, seconds = waits()
    await poster.post(CHANNEL, _digest())  # discord.py waits out the 429 and sends again

    assert len(discord_api.matching("POST", f"/channels/{CHANNEL_ID}/messages")) == 2
    assert waits() == (count + 1, pytest.approx(seconds + 0.25))


async def test_channels_that_are_not_discords_are_refused(poster: DiscordPoster) -> None:
    with pytest.raises(DeliveryError) as slack:
        await poster.post(ChannelRef("slack", "T1", "C1"), _digest())
    with pytest.raises(DeliveryError) as odd:
        await poster.post(ChannelRef("discord", "guild", "general"), _digest())

    assert slack.value.permanent
    assert odd.value.permanent


async def test_posting_before_login_is_worth_a_retry(
    bot: Paperboy, discord_settings: Settings
) -> None:
    client = build_discord_client(bot, discord_settings)
    with pytest.raises(DeliveryError) as raised:
        await DiscordPoster(client).post(CHANNEL, _digest())

    assert not raised.value.permanent


# -- starting up ----------------------------------------------------------------------------


async def test_a_rejected_token_is_a_clear_configuration_error(
    bot: Paperboy, discord_settings: Settings
) -> None:
    client = build_discord_client(bot, discord_settings)
    with pytest.raises(ConfigError, match="DISCORD_TOKEN was rejected"):
        await start_discord(client, "wrong-token")

    assert client.is_closed()


async def test_start_connects_to_the_gateway_and_answers_what_it_delivers(
    bot: Paperboy,
    discord_settings: Settings,
    discord_api: FakeDiscord,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(discord_api.gateway_url))
    caplog.set_level(logging.INFO, logger="adapters.discord_app")
    client = build_discord_client(bot, discord_settings)

    connection = await start_discord(client, "test-token")
    await asyncio.wait_for(client.wait_until_ready(), 5)

    assert discord_api.identified is not None
    intents = discord.Intents._from_value(discord_api.identified["intents"])
    assert (intents.guilds, intents.guild_messages, intents.message_content) == (True, True, True)
    assert (
        intents.value
        == discord.Intents(
            guilds=True, guild_messages=True, dm_messages=True, message_content=True
        ).value
    )  # nothing else: no members, presences, typing, reactions, voice
    assert "Invite it with https://discord.com/oauth2/authorize?client_id=" in caplog.text

    asked = fixture("application_command.json")  # /papers search, as saved
    await discord_api.dispatch("INTERACTION_CREATE", asked)
    answer = callback(await discord_api.answers(asked))
    assert answer["data"]["embeds"][0]["title"].startswith("1. Efficient Streaming")

    await connection.close()
    assert connection.task.done()
    assert client.is_closed()


async def test_message_content_is_requested_only_when_the_portal_grants_it(
    bot: Paperboy, discord_api: FakeDiscord, connect: Callable[..., Any]
) -> None:
    granted: PaperboyDiscord = await connect(bot)
    discord_api.app_flags = 0
    refused: PaperboyDiscord = await connect(bot)

    assert granted.intents.message_content and granted.reads_message_content
    assert not refused.intents.message_content and not refused.reads_message_content
    assert refused.intents.guilds and refused.intents.guild_messages


async def test_a_guild_sync_failure_is_logged_not_fatal(
    bot: Paperboy,
    discord_api: FakeDiscord,
    discord_settings: Settings,
    connect: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    elsewhere = replace(discord_settings, discord_guild_id=999)
    discord_api.refuse_guild = 999

    client: PaperboyDiscord = await connect(bot, settings=elsewhere)

    assert client.user is not None
    assert "Is the bot in that server (DISCORD_GUILD_ID)?" in caplog.text
