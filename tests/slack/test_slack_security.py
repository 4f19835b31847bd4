"""Only Slack gets in: bad, missing or stale signatures get 401 and change nothing; the server
starts only when it can verify; secrets never reach the logs."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.slack_app import SlackApp, build_slack_app, serve_http
from adapters.slack_app.http import HEALTH_PATH
from bot.commands import Paperboy
from bot.config import ConfigError, Secret, Settings
from bot.models import ChannelRef
from bot.storage import Store
from tests.slack.workspace import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    TEAM,
    Workspace,
    payload,
    sign,
)

HERE = ChannelRef("slack", TEAM, CHANNEL)


def subscribe_form() -> bytes:
    form = payload("slash_command")
    form.update(team_id=TEAM, channel_id=CHANNEL, text="subscribe cat:cs.CL")
    return urlencode(form).encode()


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no signature at all"),
        (sign(b"something else", int(time.time())), "signed a different body"),
        (sign(b"", int(time.time()), secret="not-the-secret"), "the wrong secret"),
        ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}, "not a number"),
        ({"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=ab"}, "huge timestamp"),
        ({"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=ü"}, "not ASCII"),
    ],
)
async def test_bad_signatures_get_401_and_change_nothing(
    slack: Workspace, store: Store, headers: dict[str, str], why: str
) -> None:
    answer = await slack.send(subscribe_form(), signed=False, headers=headers)

    assert answer.status == 401, why
    assert await store.subscriptions(HERE) == []
    assert slack.fake.calls == []


@pytest.mark.parametrize("skew", [-301, 301, -3600])
async def test_stale_or_future_timestamps_get_401(
    slack: Workspace, store: Store, skew: int
) -> None:
    answer = await slack.send(subscribe_form(), timestamp=int(time.time()) + skew)

    assert answer.status == 401
    assert await store.subscriptions(HERE) == []


async def test_a_timestamp_within_five_minutes_is_fine(slack: Workspace, store: Store) -> None:
    answer = await slack.send(subscribe_form(), timestamp=int(time.time()) - 290)

    assert answer.status == 200
    assert [s.query for s in await store.subscriptions(HERE)] == ["cat:cs.CL"]


async def test_a_malformed_payload_without_a_signature_is_401_not_400(slack: Workspace) -> None:
    assert (await slack.send(b"payload=%7Bbroken", signed=False)).status == 401


async def test_url_verification_echoes_the_challenge(slack: Workspace) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    answer = await slack.event({"type": "url_verification", "challenge": challenge, "token": "x"})
    assert answer.status == 200
    assert answer.json() == {"challenge": challenge}


async def test_events_nobody_handles_are_still_acknowledged(slack: Workspace) -> None:
    event = payload("link_shared")
    event["event"] = {"type": "reaction_added", "user": "U1", "reaction": "tada"}
    assert (await slack.event(event)).status == 200


async def test_healthz(http_session: aiohttp.ClientSession, slack: Workspace) -> None:
    async with http_session.get(slack.url + HEALTH_PATH) as response:
        assert response.status == 200
        assert await response.json() == {"ok": True}


async def test_http_mode_needs_a_signing_secret(
    make_slack_app: Callable[..., SlackApp], slack_settings: Settings
) -> None:
    unsigned = Settings(db_path=slack_settings.db_path, slack_bot_token=Secret(BOT_TOKEN),
                        slack_api_url=slack_settings.slack_api_url)  # fmt: skip
    app = make_slack_app(unsigned)  # Socket Mode works without one
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        await serve_http(app, "127.0.0.1", 0)


def test_slack_needs_a_token_or_oauth_credentials(
    bot: Paperboy, store: Store, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        build_slack_app(bot, Settings(db_path=tmp_path / "x.db"), store=store)


def test_slack_variables_in_the_environment_change_nothing(
    bot: Paperboy, store: Store, slack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "from-env")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    before = dict(os.environ)

    app = build_slack_app(bot, slack_settings, store=store)

    assert dict(os.environ) == before
    assert app.oauth_flow is None  # single workspace, as the settings say
    assert app.verifier is not None
    assert app.verifier.signing_secret == SIGNING_SECRET
    assert app.client.token == BOT_TOKEN


def test_oauth_variables_in_the_environment_do_not_silently_switch_modes(
    bot: Paperboy, store: Store, slack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bolt would quietly turn a one-workspace app into an OAuth app on seeing these.
    monkeypatch.setenv("SLACK_CLIENT_ID", "from-env")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "")
    before = dict(os.environ)

    with pytest.raises(ConfigError, match="SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"):
        build_slack_app(bot, slack_settings, store=store)
    assert dict(os.environ) == before


async def test_ssl_checks_are_answered(slack: Workspace) -> None:
    answer = await slack.send(urlencode({"ssl_check": "1", "token": "x"}).encode())
    assert answer.status == 200


async def test_secrets_never_reach_the_logs(
    slack: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await slack.command("search attention --share")
    await slack.command("help")
    await slack.send(b"x=1", signed=False)

    assert BOT_TOKEN not in caplog.text
    assert SIGNING_SECRET not in caplog.text
