"""Multi-workspace mode: the OAuth install flow stores one bot token per workspace in our
SQLite file, each workspace only ever uses its own, and uninstalling removes the token and
pauses that workspace's digests while its data stays."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.slack_app import SlackApp, SlackPoster
from adapters.slack_app.installations import UNINSTALLED_REASON
from adapters.slack_app.oauth import BOT_SCOPES
from bot.config import ConfigError, Secret, Settings
from bot.models import ChannelRef
from bot.ports import DeliveryError
from bot.replies import Notice
from bot.storage import Store
from tests.papers import NOW
from tests.slack.fake_slack import FakeSlack
from tests.slack.workspace import SIGNING_SECRET, Serve, Workspace, payload

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret-do-not-log"
ONE, TWO = "T0001", "T0002"
TOKENS = {ONE: "xoxb-one-token", TWO: "xoxb-two-token"}


@pytest.fixture
def oauth_settings(tmp_path: Path, fake_slack: FakeSlack) -> Settings:
    return Settings(
        db_path=tmp_path / "paperboy.db",
        slack_signing_secret=Secret(SIGNING_SECRET),
        slack_client_id=CLIENT_ID,
        slack_client_secret=Secret(CLIENT_SECRET),
        slack_api_url=fake_slack.api_url,
    )


@pytest.fixture
async def oauth_app(make_slack_app: Callable[..., SlackApp], oauth_settings: Settings) -> SlackApp:
    return make_slack_app(oauth_settings)


@pytest.fixture
async def workspaces(oauth_app: SlackApp, serve: Serve) -> dict[str, Workspace]:
    one = await serve(oauth_app, team=ONE)
    two = Workspace(one.session, one.url, one.fake, team=TWO)
    return {ONE: one, TWO: two}


async def install(slack: Workspace) -> aiohttp.ClientResponse:
    """Walk the browser through /slack/install and back through /slack/oauth_redirect."""
    team = slack.team
    slack.fake.teams[TOKENS[team]] = team
    answer = payload("oauth_v2_access")
    answer.update(access_token=TOKENS[team], team={"id": team, "name": f"Team {team}"})
    slack.fake.oauth_codes[f"code-{team}"] = answer
    async with slack.session.get(slack.url + "/slack/install", allow_redirects=False) as page:
        assert page.status == 200
        html = await page.text()
        cookie = page.headers["Set-Cookie"].split(";")[0]
    state = re.search(r"state=([\w-]+)", html)
    assert state is not None
    async with slack.session.get(
        slack.url + "/slack/oauth_redirect",
        params={"code": f"code-{team}", "state": state.group(1)},
        headers={"Cookie": cookie},
        allow_redirects=False,
    ) as done:
        await done.read()
        return done


async def installed_tokens(store: Store) -> dict[str, str]:
    async with store.transaction() as db:
        rows = await db.fetchall("SELECT team_id, bot_token FROM slack_installations")
    return {row[0]: row[1] for row in rows}


def uninstalled(team: str) -> dict[str, Any]:
    event = payload("app_uninstalled")
    event.update(team_id=team, event_id=f"Ev{team}UNINSTALL")
    return event


async def test_the_install_page_asks_for_the_least_scopes(workspaces: dict[str, Workspace]) -> None:
    slack = workspaces[ONE]
    async with slack.session.get(slack.url + "/slack/install") as page:
        html = await page.text()
    link = re.search(r'href="(https://slack.com/oauth/v2/authorize\?[^"]+)"', html)
    assert link is not None
    assert f"client_id={CLIENT_ID}" in link.group(1)
    assert f"scope={','.join(BOT_SCOPES)}" in link.group(1).replace("%2C", ",").replace("%3A", ":")


async def test_install_stores_a_token_per_workspace(
    workspaces: dict[str, Workspace], store: Store, fake_slack: FakeSlack
) -> None:
    first = await install(workspaces[ONE])
    second = await install(workspaces[TWO])

    assert (first.status, second.status) == (200, 200)
    assert await installed_tokens(store) == TOKENS
    [exchange, _] = fake_slack.calls_to("oauth.v2.access")
    assert exchange.params["code"] == f"code-{ONE}"


async def test_each_workspace_uses_only_its_own_token(
    workspaces: dict[str, Workspace], store: Store, fake_slack: FakeSlack, oauth_app: SlackApp
) -> None:
    for slack in workspaces.values():
        await install(slack)

    for team, slack in workspaces.items():
        shared = (await slack.command("search attention --share")).json()
        message = {"ts": f"17000000{team[-1]}.000100", "blocks": shared["blocks"], "text": "x"}
        await slack.action(slack.click_payload(message, "0001.00001", user="U1"))
        [*_, update] = await fake_slack.wait_for("chat.update", int(team[-1]))
        assert update.token == TOKENS[team]
        # Votes are the workspace's own: one vote in each, never two.
        label = next(b for b in update.blocks() if b.get("accessory"))["accessory"]["text"]
        assert label["text"] == "▲ Upvote · 1"
    await oauth_app.drain()

    poster = SlackPoster.for_app(oauth_app, min_interval=0)
    await poster.post(ChannelRef("slack", TWO, "C9"), Notice("Hello two", public=True))
    [post] = fake_slack.calls_to("chat.postMessage")
    assert post.token == TOKENS[TWO]


async def test_a_workspace_that_never_installed_gets_nothing(
    workspaces: dict[str, Workspace], store: Store, fake_slack: FakeSlack, oauth_app: SlackApp
) -> None:
    await install(workspaces[ONE])
    stranger = Workspace(workspaces[ONE].session, workspaces[ONE].url, fake_slack, team="T0666")

    answer = await stranger.command("subscribe cat:cs.CL")

    assert answer.status == 200
    assert await store.subscriptions(ChannelRef("slack", "T0666", "C2147483705")) == []
    with pytest.raises(DeliveryError) as failure:
        await SlackPoster.for_app(oauth_app).post(ChannelRef("slack", "T0666", "C1"), Notice("x"))
    assert failure.value.permanent


async def test_a_forged_callback_installs_nothing(
    workspaces: dict[str, Workspace], store: Store
) -> None:
    slack = workspaces[ONE]
    slack.fake.oauth_codes["code-x"] = payload("oauth_v2_access")
    async with slack.session.get(
        slack.url + "/slack/oauth_redirect", params={"code": "code-x", "state": "made-up"}
    ) as response:
        assert response.status >= 400
    assert await installed_tokens(store) == {}
    assert slack.fake.calls_to("oauth.v2.access") == []


async def test_slack_hanging_up_mid_install_shows_a_page_to_try_again(
    workspaces: dict[str, Workspace], store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    slack = workspaces[ONE]
    slack.fake.drop("oauth.v2.access", times=2)  # slack_sdk tries twice

    failed = await install(slack)

    assert failed.status == 502
    assert 'href="/slack/install"' in await failed.text()
    assert await installed_tokens(store) == {}
    ours = [r for r in caplog.records if r.name.startswith("adapters.")]
    assert [r.getMessage() for r in ours if r.levelno >= logging.WARNING] == [
        "a Slack install could not finish: Slack was unreachable (ServerDisconnectedError)"
    ]
    assert not any(r.exc_info for r in caplog.records if r.name.startswith(("adapters", "slack")))
    # Trying again works.
    assert (await install(slack)).status == 200
    assert await installed_tokens(store) == {ONE: TOKENS[ONE]}


def test_a_redirect_uri_in_the_environment_is_refused(
    make_slack_app: Callable[..., SlackApp], oauth_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SLACK_REDIRECT_URI", "https://elsewhere.example/oauth")
    with pytest.raises(ConfigError, match="SLACK_REDIRECT_URI"):
        make_slack_app(oauth_settings)


async def test_uninstall_removes_the_token_and_pauses_only_that_workspace(
    workspaces: dict[str, Workspace], store: Store, oauth_app: SlackApp
) -> None:
    for slack in workspaces.values():
        await install(slack)
        await slack.command("subscribe cat:cs.CL")
        await slack.command("vote 0001.00001")

    answer = await workspaces[ONE].event(uninstalled(ONE))
    await oauth_app.drain()

    assert answer.status == 200
    assert await installed_tokens(store) == {TWO: TOKENS[TWO]}
    one, two = (ChannelRef("slack", team, "C2147483705") for team in (ONE, TWO))
    one_row, two_row = await store.channel_settings(one), await store.channel_settings(two)
    assert one_row is not None and two_row is not None
    assert one_row.paused_reason == UNINSTALLED_REASON
    assert two_row.paused_reason is None
    # The workspace's data stays until an admin deletes it.
    assert [s.query for s in await store.subscriptions(one)] == ["cat:cs.CL"]
    assert await store.vote_counts(one, ["0001.00001"]) == {"0001.00001": 1}
    assert await store.top_voted(one, NOW - timedelta(days=7)) != []

    # Installing again picks up where the team left off.
    await install(workspaces[ONE])
    again = await store.channel_settings(one)
    assert again is not None and again.paused_reason is None


async def test_revoked_bot_tokens_are_removed(
    workspaces: dict[str, Workspace], store: Store, oauth_app: SlackApp
) -> None:
    for slack in workspaces.values():
        await install(slack)
    event = payload("tokens_revoked")
    event["team_id"] = TWO

    await workspaces[TWO].event(event)
    await oauth_app.drain()

    assert await installed_tokens(store) == {ONE: TOKENS[ONE]}


async def test_revoked_user_tokens_change_nothing(
    workspaces: dict[str, Workspace], store: Store, oauth_app: SlackApp
) -> None:
    await install(workspaces[ONE])
    event = payload("tokens_revoked")
    event["event"]["tokens"] = {"oauth": ["U2147483697"], "bot": []}

    await workspaces[ONE].event(event)
    await oauth_app.drain()

    assert await installed_tokens(store) == {ONE: TOKENS[ONE]}


async def test_the_client_secret_is_never_logged(
    workspaces: dict[str, Workspace], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await install(workspaces[ONE])
    await workspaces[ONE].command("help")

    # aiosqlite's own DEBUG log echoes SQL parameters; it is the core's to quiet (see docs).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiosqlite")
    assert "oauth.v2.access" in ours  # slack_sdk did log the exchange, redacted
    assert CLIENT_SECRET not in ours
    assert TOKENS[ONE] not in ours
