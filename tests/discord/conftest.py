"""The Discord adapter under test: a real discord.py client logged in to a fake Discord.

Events reach the client the way the gateway delivers them: saved payloads
(``tests/fixtures/discord/``) fed to discord.py's connection state, which dispatches them to the
command tree, the dynamic vote buttons and the listeners. What the bot answers is read back from
the fake REST server's recorded calls.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord_app import PaperboyDiscord, build_discord_client
from bot.commands import Paperboy
from bot.config import Secret, Settings
from bot.models import ChannelRef, Paper
from tests.discord.fake_discord import Call, FakeDiscord, message, user

FIXTURES = Path(__file__).parent.parent / "fixtures" / "discord"
GUILD_ID = 1300000000000000001
CHANNEL_ID = 1300000000000000002
ADA = 1300000000000000010  # a member without Manage Channels
GRACE = 1300000000000000011  # a moderator
CHANNEL = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
TOKEN = "test-token"

MEMBER_PERMISSIONS = 311385246784  # read, write, embed, history, app commands
MODERATOR_PERMISSIONS = 311385254992  # the same plus Manage Channels and Manage Messages
EPHEMERAL = 64


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    return data


class Gateway:
    """Builds gateway payloads from the saved ones and feeds them to a client."""

    def __init__(self, api: FakeDiscord) -> None:
        self.api = api
        self.client: PaperboyDiscord | None = None
        self._ids = itertools.count(1400000000000000000)

    def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.client is not None, "log a client in first"
        self.client._connection.parse_interaction_create(copy.deepcopy(payload))  # type: ignore[arg-type]
        return payload

    def command(
        self,
        group: str,
        sub: str,
        options: dict[str, str | bool] | None = None,
        *,
        permissions: int = MEMBER_PERMISSIONS,
        as_user: int = ADA,
        dm: bool = False,
        app_permissions: int | None = None,
        upload_limit: int | None = None,
    ) -> dict[str, Any]:
        """Run ``/group sub option:value…`` as a member, the way Discord sends it."""
        payload = self._interaction("application_command.json", permissions, as_user, dm)
        if upload_limit is not None:
            payload["attachment_size_limit"] = upload_limit
        payload["data"]["id"] = self.command_id(group)
        payload["data"]["name"] = group
        payload["data"]["options"] = [
            {"name": sub, "type": 1, "options": [_option(k, v) for k, v in (options or {}).items()]}
        ]
        if dm:
            del payload["data"]["guild_id"]
        if app_permissions is not None:
            payload["app_permissions"] = str(app_permissions)
        return self.send(payload)

    def autocomplete(
        self,
        group: str,
        sub: str,
        focused: str,
        typed: str,
        options: dict[str, str] | None = None,
        *,
        permissions: int = MODERATOR_PERMISSIONS,
    ) -> dict[str, Any]:
        payload = self._interaction("autocomplete.json", permissions, GRACE, False)
        payload["data"]["id"] = self.command_id(group)
        payload["data"]["name"] = group
        sent = [_option(k, v) for k, v in (options or {}).items()]
        sent.append({**_option(focused, typed), "focused": True})
        payload["data"]["options"] = [{"name": sub, "type": 1, "options": sent}]
        return self.send(payload)

    def click(
        self, custom_id: str, on: dict[str, Any], *, as_user: int = ADA, ephemeral: bool = False
    ) -> dict[str, Any]:
        """Click a button on a message the bot sent (``on`` is the JSON it sent)."""
        payload = self._interaction("message_component.json", MEMBER_PERMISSIONS, as_user, False)
        payload["data"]["custom_id"] = custom_id
        sent = message(
            next(self._ids),
            CHANNEL_ID,
            author=user(1100000000000000002, "Paperboy", bot=True),
            embeds=on.get("embeds") or [],
            components=on.get("components") or [],
            flags=EPHEMERAL if ephemeral else 0,
            webhook_id=1100000000000000001,
        )
        payload["message"] = {**payload["message"], **sent}
        return self.send(payload)

    def post(
        self,
        content: str,
        *,
        author: int = ADA,
        bot: bool = False,
        reply_to: int | None = None,
        thread: int | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """A member posts a message in the channel (MESSAGE_CREATE): ``reply_to`` a message,
        or in the ``thread`` with that id (a thread started from a message has its id)."""
        assert self.client is not None
        payload = fixture("message_create.json")
        payload["id"] = str(message_id or next(self._ids))
        payload["content"] = content
        payload["author"] = {**payload["author"], "id": str(author), "bot": bot}
        if reply_to is not None:
            payload["type"] = 19  # REPLY
            payload["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": payload["channel_id"],
                "guild_id": payload["guild_id"],
            }
        if thread is not None:
            payload["channel_id"] = str(thread)
            payload["channel_type"] = 11  # PUBLIC_THREAD
        self.client._connection.parse_message_create(payload)  # type: ignore[arg-type]
        return payload

    def command_id(self, group: str) -> str:
        for commands in self.api.registered.values():
            for command in commands:
                if command["name"] == group:
                    return str(command["id"])
        raise AssertionError(f"/{group} was never registered")

    def _interaction(self, name: str, permissions: int, as_user: int, dm: bool) -> dict[str, Any]:
        payload = fixture(name)
        number = next(self._ids)
        payload["id"] = str(number)
        payload["token"] = f"token-{number}"
        member = payload["member"]
        member["permissions"] = str(permissions)
        member["user"] = {**member["user"], "id": str(as_user)}
        if dm:
            for key in ("guild", "guild_id", "guild_locale", "member"):
                payload.pop(key, None)
            payload["user"] = member["user"]
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"0": str(as_user)}
            payload["channel"] = {
                "id": str(CHANNEL_ID + 1000),
                "type": 1,
                "flags": 0,
                "last_message_id": None,
                "recipients": [member["user"]],
            }
            payload["channel_id"] = str(CHANNEL_ID + 1000)
        return payload


def _option(name: str, value: str | bool) -> dict[str, Any]:
    return {"name": name, "type": 5 if isinstance(value, bool) else 3, "value": value}


# -- reading answers ------------------------------------------------------------------------


def callback(calls: list[Call]) -> dict[str, Any]:
    """The interaction callback body among an interaction's calls."""
    found = [c for c in calls if c.path.endswith("/callback")]
    assert len(found) == 1, calls
    body: dict[str, Any] = found[0].body
    return body


def descriptions(data: dict[str, Any]) -> str:
    return "\n".join(e.get("description", "") for e in data.get("embeds", []))


def buttons(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The upvote and Save buttons of a message, in order (all but "More like this")."""
    return [
        b for b in all_buttons(data) if not b.get("custom_id", "").startswith("paperboy:similar:")
    ]


def all_buttons(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in data.get("components", []) for button in row["components"]]


class SlowLookup:
    """An arXiv that takes its time (until released), then knows the papers it was given."""

    def __init__(self, found: Sequence[Paper] = ()) -> None:
        self.release = asyncio.Event()
        self.found = list(found)

    async def lookup(self, paper_ids: Sequence[str]) -> list[Paper]:
        await self.release.wait()
        return [p for p in self.found if p.id in paper_ids]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
async def discord_api() -> AsyncIterator[FakeDiscord]:
    api = FakeDiscord()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
def discord_settings(discord_api: FakeDiscord) -> Settings:
    return Settings(
        discord_token=Secret(TOKEN), discord_guild_id=GUILD_ID, discord_api_url=discord_api.url
    )


@pytest.fixture
async def connect(
    discord_api: FakeDiscord, discord_settings: Settings
) -> AsyncIterator[Callable[..., Any]]:
    """Build and log in a client (several, to restart); all are closed at the end."""
    opened: list[PaperboyDiscord] = []

    async def connect(bot: Paperboy, **options: Any) -> PaperboyDiscord:
        settings: Settings = options.pop("settings", discord_settings)
        client = build_discord_client(bot, settings, **options)
        opened.append(client)
        await client.login(TOKEN)
        return client

    yield connect
    for client in reversed(opened):
        await client.close()


@pytest.fixture(autouse=True)
def _discord_api_base_restored() -> Iterator[None]:
    """Nothing a test does leaves discord.py pointed at a fake (or the real) API by accident."""
    before = discord.http.Route.BASE
    yield
    assert before == discord.http.Route.BASE


@pytest.fixture
async def gateway(bot: Paperboy, discord_api: FakeDiscord, connect: Callable[..., Any]) -> Gateway:
    """A logged-in client for the seeded core, and a way to send it events."""
    gateway = Gateway(discord_api)
    gateway.client = await connect(bot)
    return gateway
