"""Socket Mode: the same app over a WebSocket (no public URL), acked with the answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.slack_app import SlackApp, start_socket_mode
from bot.config import ConfigError
from tests.slack.fake_slack import FakeSlack
from tests.slack.workspace import CHANNEL, TEAM, USER, payload

APP_TOKEN = "xapp-1-A123-456-socket"


async def next_frame(fake: FakeSlack, envelope_id: str) -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(fake.socket_frames.get(), 5)
        if frame.get("envelope_id") == envelope_id:
            return frame


async def test_a_slash_command_over_socket_mode(slack_app: SlackApp, fake_slack: FakeSlack) -> None:
    connection = await start_socket_mode(slack_app, APP_TOKEN)
    try:
        command = payload("slash_command")
        command.update(team_id=TEAM, channel_id=CHANNEL, user_id=USER, text="search attention",
                       response_url=fake_slack.response_url())  # fmt: skip
        await fake_slack.send_envelope({
            "envelope_id": "env-1", "type": "slash_commands", "payload": command,
            "accepts_response_payload": True,
        })  # fmt: skip

        ack = await next_frame(fake_slack, "env-1")
    finally:
        await connection.close()

    [opened] = fake_slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN
    assert ack["payload"]["response_type"] == "ephemeral"
    assert ack["payload"]["blocks"][0]["text"]["text"] == "Results for attention"


async def test_socket_mode_needs_an_app_level_token(slack_app: SlackApp) -> None:
    with pytest.raises(ConfigError, match="xapp-"):
        await start_socket_mode(slack_app, "xoxb-not-an-app-token")
