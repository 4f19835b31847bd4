"""Slack installations kept in Paperboy's own SQLite file (multi-workspace mode).

Bolt's OAuth flow saves each workspace's bot token here and its authorize step reads it back,
through the ``AsyncInstallationStore`` and ``AsyncOAuthStateStore`` interfaces. The tables come
from migration 0002. Paperboy asks only for bot scopes, so there is one row per workspace.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.records import SlackInstallation
from bot.storage import Store

log = logging.getLogger(__name__)

PLATFORM = "slack"
UNINSTALLED_REASON = "The Slack app was uninstalled from this workspace."
REVOKED_REASON = "Paperboy's Slack token for this workspace was revoked."
STATE_TTL_SECONDS = 600


class SlackInstallationStore(AsyncInstallationStore):
    """Bot installations per workspace, in the ``slack_installations`` table."""

    def __init__(self, store: Store, *, logger: logging.Logger = log) -> None:
        self._store = store
        self._logger = logger

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    async def async_save(self, installation: Installation) -> None:
        if installation.bot_token is None or installation.bot_id is None:
            # Paperboy asks for bot scopes only; a user-token-only install has nothing to keep.
            self._logger.warning("ignored a Slack installation without a bot token")
            return
        await self._save(installation.to_bot(), installer=installation.user_id)

    async def async_save_bot(self, bot: Bot) -> None:
        await self._save(bot, installer=None)

    async def _save(self, bot: Bot, *, installer: str | None) -> None:
        key = _key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        await self._store.save_slack_installation(_installation(bot, key, installer))
        # A workspace that installs again gets the schedules its uninstall paused.
        resumed = await resume_workspace(self._store, bot.team_id or bot.enterprise_id or "")
        self._logger.info(
            "saved the Slack installation for team %s (enterprise %s)%s",
            bot.team_id, bot.enterprise_id, f"; resumed {resumed} channels" if resumed else "",
        )  # fmt: skip

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await self._find(enterprise_id, team_id, is_enterprise_install)
        return _bot(found) if found else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found = await self._find(enterprise_id, team_id, is_enterprise_install)
        if found is None:
            return None
        installer = found.installer_user_id or ""
        if user_id is not None and user_id != installer:
            return None  # no per-user installations: Paperboy never holds user tokens
        bot = _bot(found)
        return Installation(
            app_id=bot.app_id, enterprise_id=bot.enterprise_id,
            enterprise_name=bot.enterprise_name, team_id=bot.team_id, team_name=bot.team_name,
            bot_token=bot.bot_token, bot_id=bot.bot_id, bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes, bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=bot.bot_token_expires_at, user_id=installer,
            is_enterprise_install=bot.is_enterprise_install, installed_at=bot.installed_at,
        )  # fmt: skip

    async def find_bot_for_team(self, team_id: str) -> Bot | None:
        """The bot installed in a workspace, whatever organization it belongs to (for posting,
        where only the workspace id is known)."""
        found = await self._store.latest_slack_installation(team_id)
        return _bot(found) if found else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        key = _key(enterprise_id, team_id, is_enterprise_install=False)
        deleted = await self._store.delete_slack_installation(*key)
        self._logger.info("removed %d Slack bot token(s) for team %s", deleted, team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is not None:
            return  # user tokens are never stored, so there is nothing of this user's to delete
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def _find(
        self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
    ) -> SlackInstallation | None:
        return await self._store.slack_installation(
            *_key(enterprise_id, team_id, is_enterprise_install)
        )


class SlackOAuthStateStore(AsyncOAuthStateStore):
    """One-time OAuth ``state`` values, so a callback cannot be forged or replayed."""

    def __init__(
        self,
        store: Store,
        *,
        expiration_seconds: int = STATE_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger = log,
    ) -> None:
        self._store = store
        self._ttl = expiration_seconds
        self._clock = clock
        self._logger = logger

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        now = self._clock()
        await self._store.add_oauth_state(state, now + self._ttl, now)
        return state

    async def async_consume(self, state: str) -> bool:
        return await self._store.consume_oauth_state(state, self._clock())


async def pause_workspace(store: Store, workspace: str, reason: str) -> int:
    """Pause every scheduled digest in a Slack workspace; returns how many channels.

    Votes, shares and subscriptions stay, so a reinstall picks up where the team left off.
    """
    count = await store.pause_workspace(PLATFORM, workspace, reason)
    log.info("paused digests in %d channel(s) of Slack team %s: %s", count, workspace, reason)
    return count


async def resume_workspace(store: Store, workspace: str) -> int:
    """Undo :func:`pause_workspace` (only pauses it made, not pauses for other reasons)."""
    return await store.resume_workspace(PLATFORM, workspace, (UNINSTALLED_REASON, REVOKED_REASON))


def _key(
    enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> tuple[str, str]:
    if is_enterprise_install:
        return enterprise_id or "", ""
    return enterprise_id or "", team_id or ""


def _installation(bot: Bot, key: tuple[str, str], installer: str | None) -> SlackInstallation:
    return SlackInstallation(
        enterprise_id=key[0], team_id=key[1], bot_token=bot.bot_token, bot_id=bot.bot_id,
        bot_user_id=bot.bot_user_id, installed_at=bot.installed_at, app_id=bot.app_id,
        enterprise_name=bot.enterprise_name, team_name=bot.team_name,
        bot_scopes=tuple(bot.bot_scopes or ()), bot_refresh_token=bot.bot_refresh_token,
        bot_token_expires_at=bot.bot_token_expires_at,
        is_enterprise_install=bool(bot.is_enterprise_install), installer_user_id=installer,
    )  # fmt: skip


def _bot(found: SlackInstallation) -> Bot:
    return Bot(
        app_id=found.app_id,
        enterprise_id=found.enterprise_id or None,
        enterprise_name=found.enterprise_name,
        team_id=found.team_id or None,
        team_name=found.team_name,
        bot_token=found.bot_token,
        bot_id=found.bot_id,
        bot_user_id=found.bot_user_id,
        bot_scopes=list(found.bot_scopes),
        bot_refresh_token=found.bot_refresh_token,
        bot_token_expires_at=found.bot_token_expires_at,
        is_enterprise_install=found.is_enterprise_install,
        installed_at=found.installed_at,
    )
