"""The quota planner: how much of a connection's daily quota is used and projected, and
which mode realtime work runs in.

- ``realtime``: a change goes out on its own, as it happens;
- ``coalesce``: the day's projected usage would pass the budget, so changes wait in
  ``sync_pending`` (one row per profile, however many changes) and the next batch sends
  them in full batches: the quota holds and no change is lost;
- ``parked``: the quota is used up; work waits for the reset.

Projection: calls so far, extrapolated linearly over the vendor day (the elapsed part of
the day counts as at least ``MIN_ELAPSED`` of it, so the first minutes do not explode).
Alerts fire once per vendor day at 80 % and 100 % as events (``connection.quota.warning``,
``connection.quota.exhausted``) that endpoints and flows can subscribe to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.spec import QuotaSpec
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.ids import new_id
from renkei.store.statements import insert_ignoring
from renkei.store.tables.connectors import connector_quota_days
from renkei.store.tables.syncs import sync_quota_alerts

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["ALERT_LEVELS", "QuotaStatus", "quota_status", "raise_alerts"]

MIN_ELAPSED = 1 / 48  # half an hour of a day
ALERT_LEVELS = {80: "connection.quota.warning", 100: "connection.quota.exhausted"}
DAY = timedelta(days=1)


@dataclass(frozen=True)
class QuotaStatus:
    connection: str
    connection_id: str
    limit: int | None
    used: int
    budget: int | None
    resets_at: datetime | None
    projected: int | None
    mode: str
    elapsed: float = MIN_ELAPSED
    """The share of the vendor day gone by (at least ``MIN_ELAPSED``)."""

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    def mode_with(self, queued: int) -> str:
        """The mode once ``queued`` more calls (admitted, not yet sent) are counted."""
        if self.limit is None or self.resets_at is None or self.budget is None:
            return "realtime"
        return _mode(self.limit, self.budget, self.used + queued, self.elapsed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "budget": self.budget,
            "projected": self.projected,
            "resets_at": None if self.resets_at is None else self.resets_at.isoformat(),
            "mode": self.mode,
        }


async def _used(connection: AsyncConnection, limiter: str, resets_at: datetime) -> int:
    used = (
        await connection.execute(
            select(connector_quota_days.c.used).where(
                connector_quota_days.c.limiter == limiter,
                connector_quota_days.c.resets_at == resets_at,
            )
        )
    ).scalar_one_or_none()
    return int(used or 0)


async def quota_status(
    connection: AsyncConnection,
    *,
    name: str,
    connection_id: str,
    quota: QuotaSpec | None,
    now: datetime,
    budget_share: float = 1.0,
) -> QuotaStatus:
    """The mode in force for a connection right now (read in ``connection``)."""
    if quota is None:
        return QuotaStatus(name, connection_id, None, 0, None, None, None, "realtime")
    resets_at = quota.next_reset(now)
    used = await _used(connection, connection_id, resets_at)
    elapsed = _elapsed(resets_at, now)
    budget = int(quota.calls * budget_share)
    return QuotaStatus(
        name,
        connection_id,
        quota.calls,
        used,
        budget,
        resets_at,
        int(used / elapsed),
        _mode(quota.calls, budget, used, elapsed),
        elapsed,
    )


def _elapsed(resets_at: datetime, now: datetime) -> float:
    return max(MIN_ELAPSED, 1 - (resets_at - now) / DAY)


def _mode(limit: int, budget: int, used: int, elapsed: float) -> str:
    if used >= limit:
        return "parked"
    if used / elapsed > budget or used >= budget:
        return "coalesce"
    return "realtime"


async def raise_alerts(hub: Core, tx: AsyncConnection, status: QuotaStatus) -> list[str]:
    """Record the alert events due for ``status`` that did not fire yet today."""
    if status.limit is None or status.resets_at is None or status.limit <= 0:
        return []
    fired: list[str] = []
    share = status.used * 100 / status.limit
    for level, event_type in ALERT_LEVELS.items():
        if share < level:
            continue
        inserted = await tx.execute(
            insert_ignoring(tx, sync_quota_alerts).values(
                connection=status.connection_id, resets_at=status.resets_at, level=level
            )
        )
        if not inserted.rowcount:
            continue
        now = hub.clock.now()
        event = Event(
            id=new_id("evt"),
            type=event_type,
            name=None,
            data={
                "connection": status.connection,
                "connection_id": status.connection_id,
                "level": level,
                **status.as_dict(),
            },
            occurred_at=now,
            received_at=now,
            source_id="renkei.syncs",
        )
        await record_events(hub, tx, [event])
        fired.append(event_type)
    return fired
