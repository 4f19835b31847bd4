"""Reading what Slack sends: slash commands and button clicks into plain values, Web API errors
into their code, and a memory of recent deliveries so a retried one is not handled twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack_app.installations import PLATFORM
from bot.models import ChannelRef
from bot.replies import Command

# Errors that retrying will not fix: the scheduler pauses the channel after repeated ones.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found", "not_in_channel", "is_archived", "account_inactive",
        "token_revoked", "token_expired", "invalid_auth", "not_authed", "no_permission",
        "missing_scope", "team_access_not_granted", "restricted_action", "ekm_access_denied",
        "org_login_required", "team_not_found", "not_allowed_token_type", "app_uninstalled",
    }
)  # fmt: skip


class Malformed(ValueError):
    """A payload without the fields every request of its kind carries."""


@dataclass(frozen=True, slots=True)
class Click:
    """An Upvote click, with what is needed to redraw the message it was on."""

    channel: ChannelRef
    user: str
    paper_id: str
    block_id: str
    delivery_id: str
    message_ts: str
    ephemeral: bool
    blocks: tuple[dict[str, Any], ...]
    message_text: str
    unfurl_url: str | None

    @property
    def message_key(self) -> tuple[str, str]:
        return (self.channel.channel, self.message_ts)


def command_from_slash(body: Mapping[str, Any]) -> Command:
    team, channel, user = body.get("team_id"), body.get("channel_id"), body.get("user_id")
    if not all(isinstance(value, str) and value for value in (team, channel, user)):
        raise Malformed("a slash command needs team_id, channel_id and user_id")
    text = body.get("text")
    name = body.get("user_name")
    return Command(
        channel=ChannelRef(PLATFORM, str(team), str(channel)),
        user=str(user),
        text=text if isinstance(text, str) else "",
        user_name=name if isinstance(name, str) else None,
    )


def click_from_action(body: Mapping[str, Any]) -> Click:
    try:
        action = body["actions"][0]
        user = body["user"]["id"]
        container = body.get("container") or {}
        team = (body.get("team") or {}).get("id") or body["user"].get("team_id")
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        paper_id = action["value"]
        block_id = action.get("block_id") or ""
        message = body.get("message") or {}
        ts = container.get("message_ts") or message.get("ts") or ""
        delivery = body.get("trigger_id") or f"{user}:{action.get('action_ts')}"
        unfurl_url = container.get("app_unfurl_url") if container.get("is_app_unfurl") else None
        values = (user, team, channel, paper_id, delivery)
        if not all(isinstance(value, str) and value for value in values):
            raise Malformed("a vote click needs user, team, channel, value and trigger_id")
        blocks = message.get("blocks") or []
        return Click(
            channel=ChannelRef(PLATFORM, str(team), str(channel)), user=str(user),
            paper_id=str(paper_id), block_id=str(block_id), delivery_id=str(delivery),
            message_ts=str(ts),
            ephemeral=bool(container.get("is_ephemeral")),
            blocks=tuple(block for block in blocks if isinstance(block, dict)),
            message_text=str(message.get("text") or "Paperboy"),
            unfurl_url=unfurl_url if isinstance(unfurl_url, str) else None,
        )  # fmt: skip
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise Malformed(f"unexpected block_actions shape ({error!r})") from None


def api_error(error: SlackApiError) -> str:
    """The ``error`` code of a Web API refusal (``channel_not_found``), or its HTTP status."""
    data = error.response.data if isinstance(error.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {error.response.status_code}")


def retry_after(headers: Mapping[str, Any] | None) -> float:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(float(raw), 0.0)
            except (TypeError, ValueError):
                break
    return 1.0
