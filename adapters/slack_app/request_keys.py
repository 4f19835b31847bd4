"""Request keys every worker shares: a Slack retry (same trigger or event id) or a double click
that lands on another worker behind the load balancer is still handled once.

The keys live in the database (``Store.claim_request_key``: the first insert wins, a key expires
after its TTL), not in one process's memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.slack_app.payloads import Click, Malformed, click_from_action
from bot.storage import Store

log = logging.getLogger(__name__)


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


async def first_click(body: Mapping[str, Any], deliveries: SharedKeys, button: str) -> Click | None:
    """The click a block_actions request carries, or None (logged) when the payload is malformed
    or Slack delivered this click before (a retry, on any worker)."""
    try:
        click = click_from_action(body)
    except Malformed as error:
        log.info("malformed %s action: %s", button, error)
        return None
    if await deliveries.seen(f"action:{click.delivery_id}"):
        log.info("ignored a repeated delivery of %s click %s", button, click.delivery_id)
        return None
    return click


async def repeated_event(body: Mapping[str, Any], deliveries: SharedKeys) -> bool:
    """Whether Slack delivered this Events API event before (a retry, to any worker)."""
    event_id = body.get("event_id")
    if isinstance(event_id, str) and await deliveries.seen(f"event:{event_id}"):
        log.info("ignored a repeated delivery of event %s", event_id)
        return True
    return False
