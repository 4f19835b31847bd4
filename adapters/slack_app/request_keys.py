"""Request keys every worker shares: a Slack retry (same trigger or event id) or a double click
that lands on another worker behind the load balancer is still handled once.

The keys live in the database (``Store.claim_request_key``: the first insert wins, a key expires
after its TTL), not in one process's memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.storage import Store


@dataclass(frozen=True, slots=True)
class SharedKeys:
    store: Store
    ttl: float  # seconds a key is remembered
    clock: Callable[[], float]  # wall time (time.time): workers compare each other's stamps

    async def seen(self, key: str) -> bool:
        """True if any worker took ``key`` within the TTL; otherwise take it and return False."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        claimed = await self.store.claim_request_key(
            f"slack:{key}", now, timedelta(seconds=self.ttl)
        )
        return not claimed
