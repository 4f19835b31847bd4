"""What the core needs from the outside world, as small protocols adapters and sources satisfy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.models import ChannelRef, Paper
from bot.replies import Reply


class DeliveryError(Exception):
    """A post could not be delivered. ``permanent`` failures (channel gone, bot removed,
    token revoked) will not fix themselves by retrying; others (rate limit, outage) may."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Poster(Protocol):
    """Sends a reply to a channel on one platform (the scheduler's way out).

    A ``channel`` whose ``direct_user`` is set (``ChannelRef.direct(platform, workspace, user)``)
    means a direct message to that person: the poster opens (or reuses) the conversation with
    them. A person who cannot be written to is a permanent :class:`DeliveryError`.
    """

    platform: str

    async def post(self, channel: ChannelRef, reply: Reply) -> None: ...


class PaperLookup(Protocol):
    """Finds papers the store has not seen yet (a live arXiv lookup)."""

    async def lookup(self, paper_ids: Sequence[str]) -> list[Paper]: ...
