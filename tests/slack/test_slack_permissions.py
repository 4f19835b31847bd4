"""Who may change a channel on Slack: the workspace's setting, with admins and owners as Slack's
``users.info`` reports them, asked once in a while rather than on every command."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.slack_app.listeners import WORKING_TEXT
from adapters.slack_app.roles import ROLE_TTL_SECONDS
from bot.models import ChannelRef
from bot.storage import Store
from tests.slack.workspace import CHANNEL, TEAM, FakeClock, Workspace

HERE = ChannelRef("slack", TEAM, CHANNEL)
ADMIN, OWNER, PRIMARY, MEMBER = "UADMIN01", "UOWNER01", "UPRIMARY1", "UMEMBER01"


def said(answer: dict[str, Any]) -> str:
    return "\n".join(
        [answer.get("text", "")]
        + [block["text"]["text"] for block in answer.get("blocks", []) if "text" in block]
    )


@pytest.fixture
def roles(slack: Workspace) -> None:
    slack.fake.roles.update(
        {
            ADMIN: {"is_admin": True},
            OWNER: {"is_admin": True, "is_owner": True},
            PRIMARY: {"is_owner": True, "is_primary_owner": True},
        }
    )


async def keep_for_admins(slack: Workspace) -> None:
    answer = (await slack.command("settings channel-changes admins", user=ADMIN)).json()
    assert answer["response_type"] == "ephemeral"
    assert "Done. Only workspace admins and owners" in said(answer)


@pytest.mark.usefixtures("roles")
async def test_an_admin_keeps_channel_settings_for_admins(
    slack: Workspace, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await keep_for_admins(slack)

    with caplog.at_level(logging.INFO):
        denied = (await slack.command("subscribe cat:cs.CL", user=MEMBER)).json()

    assert denied["response_type"] == "ephemeral"
    assert said(denied).startswith(
        "Only workspace admins and owners can change this channel's settings here."
    )
    assert "ask an" in said(denied).lower()
    assert await store.subscriptions(HERE) == []
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [(r.levelno, r.name) for r in refusals] == [(logging.INFO, "bot.commands")]
    assert slack.fake.calls_to("response_url") == []


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize("user", [ADMIN, OWNER, PRIMARY])
async def test_admins_and_owners_change_a_kept_channel(
    slack: Workspace, store: Store, user: str
) -> None:
    await keep_for_admins(slack)

    answer = (await slack.command("subscribe cat:cs.CL", user=user)).json()

    assert answer["response_type"] == "in_channel"
    assert [s.query for s in await store.subscriptions(HERE)] == ["cat:cs.CL"]


@pytest.mark.usefixtures("roles")
async def test_a_member_cannot_change_the_setting(slack: Workspace, store: Store) -> None:
    answer = (await slack.command("settings channel-changes admins", user=MEMBER)).json()

    assert answer["response_type"] == "ephemeral"
    assert "Only workspace admins and owners can change who may change channels" in said(answer)
    assert (await store.workspace_settings("slack", TEAM)).channel_changes == "everyone"


@pytest.mark.usefixtures("roles")
async def test_slack_is_asked_once_per_person_while_the_answer_is_fresh(
    slack: Workspace, store: Store, fake_clock: FakeClock
) -> None:
    await keep_for_admins(slack)
    await slack.command("subscribe cat:cs.CL", user=MEMBER)
    await slack.command("schedule 07:00 UTC daily", user=MEMBER)

    asked = slack.fake.calls_to("users.info")
    assert [call.params["user"] for call in asked] == [ADMIN, MEMBER]
    assert all(call.token == "xoxb-0001-test-token" for call in asked)

    slack.fake.roles[MEMBER] = {"is_admin": True}  # promoted; Paperboy learns it in time
    fake_clock.advance(ROLE_TTL_SECONDS + 1)
    answer = (await slack.command("subscribe cat:cs.CL", user=MEMBER)).json()

    assert answer["response_type"] == "in_channel"
    assert len(slack.fake.calls_to("users.info")) == 3


async def test_where_anyone_may_slack_is_never_asked(slack: Workspace, store: Store) -> None:
    for text in ("search attention", "subscribe cat:cs.CL", "schedule picks:3", "settings"):
        assert (await slack.command(text, user=MEMBER)).status == 200

    assert slack.fake.calls_to("users.info") == []
    assert [s.query for s in await store.subscriptions(HERE)] == ["cat:cs.CL"]


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize("failure", ["ratelimited", "missing_scope", "dropped"])
async def test_when_slack_cannot_say_nothing_changes_and_the_person_is_told(
    slack: Workspace, store: Store, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    await keep_for_admins(slack)
    if failure == "ratelimited":
        slack.fake.rate_limit("users.info")
    elif failure == "dropped":
        # Every try: slack_sdk retries a lost connection once, aiohttp a lost kept-alive GET once.
        slack.fake.drop("users.info", times=4)
    else:
        slack.fake.reply(
            "users.info",
            {"ok": False, "error": "missing_scope", "needed": "users:read",
             "provided": "commands,chat:write,links:read,links:write"},
        )  # fmt: skip

    answer = (await slack.command("subscribe cat:cs.CL", user=MEMBER)).json()
    if said(answer) == WORKING_TEXT:  # slack_sdk's backoff between the tries outlasted the ack
        [later] = await slack.fake.wait_for("response_url")
        answer = later.params

    assert answer["response_type"] == "ephemeral"
    assert "could not check whether you are a workspace admin" in said(answer)
    assert await store.subscriptions(HERE) == []
    assert "users.info for UMEMBER01" in caplog.text
    assert "Traceback" not in caplog.text

    # A failure is not remembered: once Slack answers, the member's real role counts.
    slack.fake.roles[MEMBER] = {"is_admin": True}
    again = (await slack.command("subscribe cat:cs.CL", user=MEMBER)).json()
    assert again["response_type"] == "in_channel"
