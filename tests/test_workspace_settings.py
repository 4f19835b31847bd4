"""Who may change a channel: a workspace's admins and owners can keep channel settings for
themselves (``/papers settings channel-changes admins``); by default anyone may, as always."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from bot.commands import Paperboy
from bot.models import ChannelRef
from bot.replies import Command, Notice, Reply, VoteRecorded
from bot.storage import Store
from tests.papers import NOW

TEAM = ChannelRef("slack", "T1", "C1")
OTHER_CHANNEL = ChannelRef("slack", "T1", "C2")
OTHER_TEAM = ChannelRef("slack", "T2", "C1")
ADMIN, MEMBER = "UADMIN", "UMEMBER"

Say = Callable[..., Awaitable[Reply]]


@pytest.fixture
def say(bot: Paperboy) -> Say:
    """Send a command as someone whose role the platform reported (None: it could not say)."""

    async def say(
        text: str, user: str = MEMBER, *, admin: bool | None = False, where: ChannelRef = TEAM
    ) -> Reply:
        return await bot.handle(Command(where, user, text, is_admin=admin))

    return say


def text_of(reply: Reply) -> str:
    assert isinstance(reply, Notice), reply
    return "\n".join((reply.text, *reply.lines))


async def keep_channels_for_admins(say: Say) -> None:
    reply = await say("settings channel-changes admins", ADMIN, admin=True)
    assert isinstance(reply, Notice) and reply.kind == "success", reply


async def test_by_default_anyone_changes_a_channel(say: Say, store: Store) -> None:
    assert "Anyone can change" in text_of(await say("settings"))

    reply = await say("subscribe cat:cs.CL")

    assert isinstance(reply, Notice) and reply.kind == "success"
    assert [s.query for s in await store.subscriptions(TEAM)] == ["cat:cs.CL"]


async def test_once_kept_for_admins_a_member_changes_nothing(
    say: Say, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await say("subscribe cat:cs.CL", ADMIN, admin=True)
    await keep_channels_for_admins(say)
    before = await store.channel_settings(TEAM)

    with caplog.at_level(logging.INFO, logger="bot.commands"):
        refusals = [
            await say(text)
            for text in (
                "subscribe cat:cs.LG",
                "unsubscribe 1",
                "topics add cat:cs.LG",
                "topics remove 1",
                "schedule 07:00 UTC daily",
                "schedule picks:2",
                "schedule quiet:off",
                "schedule off",
            )
        ]

    for reply in refusals:
        assert isinstance(reply, Notice) and reply.kind == "error" and not reply.public
        assert reply.text.startswith("Only workspace admins and owners can change this channel")
        assert "`/papers settings channel-changes everyone`" in reply.text
    assert [s.query for s in await store.subscriptions(TEAM)] == ["cat:cs.CL"]
    assert await store.channel_settings(TEAM) == before
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == len(refusals)
    assert all(r.levelno == logging.INFO for r in refused)


async def test_members_still_read_and_use_a_kept_channel(say: Say) -> None:
    await keep_channels_for_admins(say)

    assert "follows no topics" in text_of(await say("subscriptions"))
    assert "Change it with" in text_of(await say("schedule"))
    assert "Subscribe to what?" in text_of(await say("subscribe"))
    vote = await say("vote 0001.00002")
    assert isinstance(vote, VoteRecorded) and vote.voted
    assert "Saved" in text_of(await say("save 0001.00002"))


async def test_admins_and_owners_still_change_a_kept_channel(say: Say, store: Store) -> None:
    await keep_channels_for_admins(say)

    reply = await say("subscribe cat:cs.CL", "UOWNER", admin=True)

    assert isinstance(reply, Notice) and reply.kind == "success"
    assert [s.query for s in await store.subscriptions(OTHER_CHANNEL)] == []
    assert [s.query for s in await store.subscriptions(TEAM)] == ["cat:cs.CL"]


async def test_the_setting_holds_in_every_channel_of_one_workspace_only(say: Say) -> None:
    await keep_channels_for_admins(say)

    elsewhere = await say("subscribe cat:cs.CL", where=OTHER_CHANNEL)
    other_team = await say("subscribe cat:cs.CL", where=OTHER_TEAM)

    assert isinstance(elsewhere, Notice) and elsewhere.kind == "error"
    assert isinstance(other_team, Notice) and other_team.kind == "success"


async def test_only_an_admin_changes_the_setting(say: Say, store: Store) -> None:
    reply = await say("settings channel-changes admins")

    assert isinstance(reply, Notice) and reply.kind == "error"
    assert "Only workspace admins and owners can change who may change channels" in reply.text
    assert (await store.workspace_settings("slack", "T1")).channel_changes == "everyone"


async def test_when_the_role_is_unknown_nothing_changes(say: Say, store: Store) -> None:
    unknown_setting = await say("settings channel-changes admins", ADMIN, admin=None)
    await keep_channels_for_admins(say)
    unknown_subscribe = await say("subscribe cat:cs.CL", admin=None)

    for reply in (unknown_setting, unknown_subscribe):
        assert isinstance(reply, Notice) and reply.kind == "error"
        assert "could not check whether you are a workspace admin" in reply.text
    assert await store.subscriptions(TEAM) == []


async def test_an_admin_opens_channels_to_everyone_again(say: Say, store: Store) -> None:
    await keep_channels_for_admins(say)
    assert "Only workspace admins" in text_of(await say("settings"))

    again = await say("settings channel-changes admins", ADMIN, admin=True)
    opened = await say("settings channel-changes everyone", "UOWNER", admin=True)

    assert text_of(again).startswith("Already so")
    assert isinstance(opened, Notice) and opened.kind == "success"
    assert isinstance(await say("subscribe cat:cs.CL"), Notice)
    assert [s.query for s in await store.subscriptions(TEAM)] == ["cat:cs.CL"]
    settings = await store.workspace_settings("slack", "T1")
    assert (settings.updated_by, settings.updated_at) == ("UOWNER", NOW)


@pytest.mark.parametrize(
    "text",
    ["settings channel-changes", "settings channel-changes nobody", "settings colour blue"],
)
async def test_a_mistyped_setting_is_explained(say: Say, text: str) -> None:
    reply = await say(text, ADMIN, admin=True)

    assert isinstance(reply, Notice) and reply.kind == "error"
    assert "`/papers settings channel-changes admins`" in reply.text


async def test_discord_keeps_its_own_permissions(bot: Paperboy) -> None:
    where = ChannelRef("discord", "G1", "C1")
    help_text = text_of(await bot.handle(Command(where, MEMBER, "help")))
    settings = await bot.handle(Command(where, MEMBER, "settings channel-changes admins"))

    assert "settings" not in help_text
    assert isinstance(settings, Notice) and "I don't know the command `settings`" in settings.text


async def test_the_platform_is_asked_for_a_role_only_when_it_matters(
    say: Say, bot: Paperboy
) -> None:
    def needs(text: str) -> Awaitable[bool]:
        return bot.needs_role(Command(TEAM, MEMBER, text))

    assert not await needs("search attention")
    assert not await needs("subscribe cat:cs.CL")  # anyone may: no need to ask
    assert not await needs("settings")
    assert await needs("settings channel-changes admins")
    await keep_channels_for_admins(say)
    assert await needs("subscribe cat:cs.CL")
    assert await needs("schedule off")
    assert not await needs("schedule")
    assert not await needs("vote 0001.00002")


# -- the store ----------------------------------------------------------------------------------


async def test_a_workspace_nobody_configured_has_the_defaults(store: Store) -> None:
    settings = await store.workspace_settings("slack", "T9")

    assert (settings.channel_changes, settings.updated_by, settings.updated_at) == (
        "everyone",
        None,
        None,
    )


async def test_the_store_keeps_who_changed_the_setting_and_when(store: Store) -> None:
    assert await store.set_channel_changes("slack", "T1", "admins", by="U1", now=NOW)
    assert not await store.set_channel_changes("slack", "T1", "admins", by="U2", now=NOW)
    later = NOW + timedelta(hours=1)
    assert await store.set_channel_changes("slack", "T1", "everyone", by="U3", now=later)

    settings = await store.workspace_settings("slack", "T1")
    assert (settings.channel_changes, settings.updated_by, settings.updated_at) == (
        "everyone",
        "U3",
        later,
    )
    assert (await store.workspace_settings("discord", "T1")).channel_changes == "everyone"
