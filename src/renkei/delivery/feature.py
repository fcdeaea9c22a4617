"""``install(hub, webhooks)``: outbound webhooks plugged into the kernel (see docs/webhooks.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.backoff import Backoff
from renkei.delivery.config_resources import EndpointsResource, EventTypesResource
from renkei.delivery.deliver import run_lane, run_send
from renkei.delivery.fanout import SEND_TASK, fan_out
from renkei.delivery.ordering import LANE_TASK, repair_lanes
from renkei.delivery.publishing import IDEMPOTENCY_WINDOW
from renkei.delivery.reconcile import RECONCILE_TASK, reconcile
from renkei.queue import JobContext, Periodic
from renkei.store.tables.webhooks import deliveries, idempotency_keys

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.delivery.service import Webhooks

__all__ = ["install"]

QUEUE = "deliveries"
# Only for unexpected failures (the database away): deliveries keep their own schedule.
_UNEXPECTED = Backoff(attempts=30, base=1.0, cap=300.0, max_wait=math.inf)
_MAX_ERROR = 2000


def install(hub: Core, webhooks: Webhooks) -> None:
    hub.closers.append(webhooks.close)

    async def handler(connection: AsyncConnection, events: Sequence[Any]) -> None:
        await fan_out(webhooks, connection, events)

    hub.fanout.append(handler)

    async def send(ctx: JobContext) -> None:
        await run_send(webhooks, str(ctx.payload["d"]), ctx)

    async def send_died(ctx: JobContext, error: str) -> None:
        # The job will not run again: the delivery must not stay pending for ever.
        async with hub.database.transaction() as tx:
            await tx.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == str(ctx.payload["d"]),
                    deliveries.c.status.in_(("pending", "failed")),
                )
                .values(
                    status="exhausted",
                    next_attempt_at=None,
                    last_error=f"the delivery job failed for good: {error}"[:_MAX_ERROR],
                    updated_at=hub.clock.now(),
                )
            )

    async def lane(ctx: JobContext) -> None:
        await run_lane(webhooks, str(ctx.payload["endpoint_id"]), str(ctx.payload["lane"]))

    async def expire_idempotency_keys(ctx: JobContext) -> None:
        cutoff = hub.clock.now() - IDEMPOTENCY_WINDOW
        async with hub.database.transaction() as tx:
            await tx.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))

    async def repair(ctx: JobContext) -> None:
        await repair_lanes(hub)

    hub.registry.task(
        SEND_TASK, queue=QUEUE, retry=_UNEXPECTED, on_dead=send_died, take_at_enqueue=True
    )(send)
    hub.backlog.watch(QUEUE)
    hub.registry.task("webhooks.repair_lanes", queue=QUEUE)(repair)
    hub.registry.periodic(
        Periodic("webhooks.repair_lanes", "webhooks.repair_lanes", every_seconds=60)
    )
    hub.registry.task(LANE_TASK, queue=QUEUE, retry=_UNEXPECTED)(lane)

    async def reconcile_deliveries(ctx: JobContext) -> None:
        await reconcile(webhooks)

    hub.registry.task(RECONCILE_TASK, queue=QUEUE)(reconcile_deliveries)
    hub.registry.periodic(
        Periodic(
            RECONCILE_TASK, RECONCILE_TASK, every_seconds=hub.settings.delivery_reconcile_seconds
        )
    )
    hub.registry.task("webhooks.expire_idempotency_keys", queue=QUEUE)(expire_idempotency_keys)
    hub.registry.periodic(
        Periodic(
            "webhooks.expire_idempotency_keys",
            "webhooks.expire_idempotency_keys",
            every_seconds=3600,
        )
    )
    hub.resources[EventTypesResource.section] = EventTypesResource()
    hub.resources[EndpointsResource.section] = EndpointsResource(webhooks)
