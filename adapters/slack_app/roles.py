"""Who is a workspace admin: Slack's ``users.info`` answer, remembered for a while.

The core decides what an admin may do; this only tells it whether the person is one
(``is_admin``, ``is_owner`` or ``is_primary_owner``), or that Slack could not say (None).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import ClientError
from cachetools import TTLCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_app.payloads import api_error

log = logging.getLogger(__name__)

ROLE_TTL_SECONDS = 600.0  # a promotion or demotion takes effect within this long
ROLE_LOOKUP_SECONDS = 2.0  # users.info is quick; a slow one must not eat the ack budget
MAX_REMEMBERED = 10_000
ADMIN_FLAGS = ("is_admin", "is_owner", "is_primary_owner")


class WorkspaceRoles:
    """``is_admin(client, team, user)``: True, False, or None when Slack did not answer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._known: TTLCache[tuple[str, str], bool] = TTLCache(
            MAX_REMEMBERED, ROLE_TTL_SECONDS, timer=clock
        )

    async def is_admin(self, client: AsyncWebClient, team: str, user: str) -> bool | None:
        known = self._known.get((team, user))
        if known is not None:
            return known
        try:
            answer = await asyncio.wait_for(client.users_info(user=user), ROLE_LOOKUP_SECONDS)
        except SlackApiError as error:
            code = api_error(error)
            hint = " (installed before Paperboy asked for users:read: reinstall it)"
            log.warning("users.info for %s in %s failed: %s%s", user, team, code,
                        hint if code == "missing_scope" else "")  # fmt: skip
            return None
        except (TimeoutError, ClientError, OSError) as error:
            log.warning("users.info for %s in %s failed: %r", user, team, error)
            return None
        member = answer.get("user")
        if not isinstance(member, dict):
            log.warning("users.info for %s in %s answered without a user", user, team)
            return None
        # Failures are not remembered: the next command asks again.
        admin = any(member.get(flag) is True for flag in ADMIN_FLAGS)
        self._known[(team, user)] = admin
        return admin
