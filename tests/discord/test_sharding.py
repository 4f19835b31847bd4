"""Guilds split across processes: the shard settings build a sharded client (no gateway)."""

from __future__ import annotations

import discord
import pytest

from adapters.discord_app import build_discord_client
from bot.commands import Paperboy
from bot.config import ConfigError, Settings
from bot.search import SearchIndex
from bot.storage import Store


def _settings(**environ: str) -> Settings:
    return Settings.from_environ({"DISCORD_TOKEN": "x", **environ}, env_file=None)


async def test_shard_settings_build_a_client_running_only_its_shards(
    store: Store, index: SearchIndex
) -> None:
    settings = _settings(DISCORD_SHARD_COUNT="4", DISCORD_SHARD_IDS="2,3")
    # Never logged in, so nothing to close (discord.py's sharded close needs a login first).
    client = build_discord_client(Paperboy(store, index), settings)
    assert isinstance(client, discord.AutoShardedClient)
    assert (client.shard_count, client.shard_ids) == (4, [2, 3])


async def test_a_shard_count_alone_runs_every_shard_and_no_setting_runs_unsharded(
    store: Store, index: SearchIndex
) -> None:
    every = build_discord_client(Paperboy(store, index), _settings(DISCORD_SHARD_COUNT="2"))
    plain = build_discord_client(Paperboy(store, index), _settings())
    assert isinstance(every, discord.AutoShardedClient)
    assert (every.shard_count, every.shard_ids) == (2, None)
    assert not isinstance(plain, discord.AutoShardedClient)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DISCORD_SHARD_IDS": "0,1"}, "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,2"}, "from 0 to 1"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "0,0"}, "different numbers"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "zero"}, "separated by commas"),
        ({"DISCORD_SHARD_COUNT": "0"}, "DISCORD_SHARD_COUNT must be 1 or more"),
        ({"DISCORD_SHARD_COUNT": "two"}, "DISCORD_SHARD_COUNT must be a whole number"),
    ],
)
def test_bad_shard_settings_are_refused_with_what_to_set(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(**environ)
