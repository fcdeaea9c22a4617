"""The reconciler: find deliveries that no job will ever move, and give them one.

Every path that parks or drops a delivery asks the database first (``deliver.settle_endpoint``),
so a delivery of an enabled endpoint should always have a job. This periodic task is the
safety net for what escapes that (a job sent to dead letter by repeated database errors,
a bug to come): it looks for

- ``held`` deliveries of an enabled endpoint (nothing releases them but a resume), and
- ``pending``/``failed`` unordered deliveries with no scheduled or running
  ``deliveries.send`` job, and ordered ones whose lane has no job,

older than ``delivery_reconcile_seconds`` (a resume or a fan-out in progress is left alone),
and requeues them. ``renkei_deliveries_reconciled_total{state}`` counts what it found:
anything but 0 is worth a look.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from prometheus_client import Counter
from sqlalchemy import and_, select

from renkei.delivery.fanout import SEND_TASK
from renkei.delivery.ordering import WORKABLE, activate_lanes
from renkei.queue import live_keys
from renkei.store.tables.webhooks import deliveries, delivery_lanes, endpoints

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks

__all__ = ["RECONCILED", "RECONCILE_TASK", "Reconciled", "reconcile"]

RECONCILE_TASK = "webhooks.reconcile"
RECONCILED = Counter(
    "renkei_deliveries_reconciled_total",
    "Deliveries that no job would have moved, found and requeued by the reconciler",
    ["state"],
)
_BATCH = 500
log = structlog.get_logger("renkei.delivery.reconcile")


@dataclass(frozen=True)
class Reconciled:
    held: int = 0
    """Held deliveries of an enabled endpoint, released."""
    orphaned: int = 0
    """Pending or failed unordered deliveries without a job, given one."""
    lanes: int = 0
    """Idle lanes with deliveries to send, given a job."""

    @property
    def total(self) -> int:
        return self.held + self.orphaned + self.lanes


async def reconcile(webhooks: Webhooks) -> Reconciled:
    """One pass (at most a few batches per kind); returns what it found and requeued."""
    hub = webhooks.hub
    cutoff = hub.clock.now() - timedelta(seconds=hub.settings.delivery_reconcile_seconds)
    enabled = and_(
        endpoints.c.id == deliveries.c.endpoint_id,
        endpoints.c.disabled.is_(False),
        endpoints.c.deleted_at.is_(None),
    )
    held = 0
    orphaned = 0
    for _ in range(10):
        async with hub.database.transaction() as tx:
            rows = (
                await tx.execute(
                    select(deliveries.c.id, deliveries.c.lane, deliveries.c.endpoint_id)
                    .join(endpoints, enabled)
                    .where(deliveries.c.status == "held", deliveries.c.updated_at < cutoff)
                    .limit(_BATCH)
                )
            ).all()
            for endpoint_id in {row.endpoint_id for row in rows}:
                mine = [(row.id, row.lane) for row in rows if row.endpoint_id == endpoint_id]
                # Only those still held: a resume running now may have released some.
                held += await webhooks.reopen(
                    tx, mine, endpoint_id, keep_attempts=True, only_status="held"
                )
        if len(rows) < _BATCH:
            break
    # One statement reads the deliveries and the jobs, so a job that finishes meanwhile
    # (its delivery final in the same snapshot) is never taken for a missing one. The ids
    # with a job are one uncorrelated subquery, hashed once by both databases.
    with_job = live_keys(SEND_TASK, "d")
    for _ in range(10):
        async with hub.database.transaction() as tx:
            orphans = (
                await tx.execute(
                    select(deliveries.c.id, deliveries.c.endpoint_id)
                    .join(endpoints, enabled)
                    .where(
                        deliveries.c.status.in_(WORKABLE),
                        deliveries.c.lane.is_(None),
                        deliveries.c.updated_at < cutoff,
                        deliveries.c.id.not_in(with_job.scalar_subquery()),
                    )
                    .limit(_BATCH)
                )
            ).all()
            for endpoint_id in {row.endpoint_id for row in orphans}:
                mine = [(row.id, None) for row in orphans if row.endpoint_id == endpoint_id]
                orphaned += await webhooks.reopen(tx, mine, endpoint_id, keep_attempts=True)
        if len(orphans) < _BATCH:
            break
    async with hub.database.transaction() as tx:
        idle = (
            await tx.execute(
                select(deliveries.c.endpoint_id, deliveries.c.lane)
                .join(endpoints, enabled)
                .join(
                    delivery_lanes,
                    and_(
                        delivery_lanes.c.endpoint_id == deliveries.c.endpoint_id,
                        delivery_lanes.c.lane == deliveries.c.lane,
                    ),
                    isouter=True,
                )
                .where(
                    deliveries.c.status.in_(WORKABLE),
                    deliveries.c.lane.is_not(None),
                    deliveries.c.updated_at < cutoff,
                    delivery_lanes.c.active.is_not(True),
                )
                .distinct()
                .limit(_BATCH)
            )
        ).all()
        lanes = await activate_lanes(hub, tx, [(row.endpoint_id, row.lane) for row in idle])
    found = Reconciled(held=held, orphaned=orphaned, lanes=lanes)
    for state in ("held", "orphaned", "lanes"):
        RECONCILED.labels(state).inc(getattr(found, state))
    if found.total:
        log.warning("deliveries.reconciled", held=held, orphaned=orphaned, lanes=lanes)
    return found
