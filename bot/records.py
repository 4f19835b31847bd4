"""What the store hands out besides papers: typed records, so only the database backend knows
about rows and columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.models import ChannelRef
from bot.scheduling import ChannelSchedule


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """A channel the bot has seen: when and how it gets digests, and whether they are paused."""

    id: int
    ref: ChannelRef
    schedule: ChannelSchedule
    schedule_set: bool  # someone ran `/papers schedule` here
    top_n: int  # papers in each daily picks
    quiet_notice: bool  # say so on days with nothing new
    paused_reason: str | None
    failures: int  # permanent delivery failures in a row
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DigestClaim:
    """One digest of one channel; the store lets each be claimed once, so it is posted once."""

    channel_id: int
    kind: str  # daily | weekly
    period: str  # the channel's local date (daily) or ISO week (weekly)


@dataclass(frozen=True, slots=True)
class ClaimedDigest:
    """A digest this worker holds the claim of, until its lease runs out (renewed while held)."""

    claim: DigestClaim
    attempts: int  # 1 the first time; more when a worker died holding it, or it was retried

    @property
    def is_takeover(self) -> bool:
        return self.attempts > 1


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    """How a claimed digest ended, for the batched record: done | skipped | failed."""

    claim: DigestClaim
    status: str
    detail: str | None = None
    posted_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How the last fetches from one paper source went, for ``status`` and quiet-day notices."""

    source: str
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    papers_seen: int

    @property
    def is_down(self) -> bool:
        """The source failed after its last success (or never succeeded)."""
        if self.last_error_at is None:
            return False
        return self.last_success is None or self.last_error_at > self.last_success


@dataclass(frozen=True, slots=True)
class SlackInstallation:
    """A Slack workspace's bot token, saved by the OAuth install flow (multi-workspace mode).

    One per (enterprise_id, team_id); ``team_id`` is empty for an organization-wide install,
    ``enterprise_id`` outside Enterprise Grid. Tokens stay out of ``repr``, so out of any log.
    """

    enterprise_id: str
    team_id: str
    bot_token: str = field(repr=False)
    bot_id: str
    bot_user_id: str
    installed_at: float  # unix seconds
    app_id: str | None = None
    enterprise_name: str | None = None
    team_name: str | None = None
    bot_scopes: tuple[str, ...] = ()
    bot_refresh_token: str | None = field(default=None, repr=False)
    bot_token_expires_at: int | None = None  # unix seconds, only with token rotation
    is_enterprise_install: bool = False
    installer_user_id: str | None = None


ChannelChanges = Literal["everyone", "admins"]
"""Who may change a channel's settings in a workspace: anyone, or its admins and owners."""


@dataclass(frozen=True, slots=True)
class WorkspaceSettings:
    """Settings that hold for a whole workspace; a workspace nobody configured has the defaults."""

    platform: str
    workspace: str
    channel_changes: ChannelChanges = "everyone"
    updated_by: str | None = None  # the admin who last changed them
    updated_at: datetime | None = None
