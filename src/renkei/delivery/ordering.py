"""FIFO endpoints: lanes, and who works them.

An ordered endpoint's deliveries fall into lanes (one per value of the endpoint's
``ordering_key``, or a single lane). A lane has at most one job (``deliveries.lane``) at a
time; the job sends the lane's oldest open delivery, and the next only once that one
succeeded or was exhausted, so a failing head holds back its lane and nothing else.

``delivery_lanes.active`` says a job exists. It is set by fan-out and cleared by the job
when it finds the lane empty, both under a row lock (``FOR UPDATE``; a database with a
single writer holds it already), so a delivery stored while the job is finishing is never
stranded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.queue import NewJob, live_dedupe_keys
from renkei.store.statements import insert_ignoring
from renkei.store.tables.webhooks import deliveries, delivery_lanes, lane_open

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["LANE_TASK", "activate_lanes", "lane_job", "release_lane", "repair_lanes"]

LANE_TASK = "deliveries.lane"
WORKABLE = ("pending", "failed")


async def activate_lanes(
    hub: Core, connection: AsyncConnection, lanes: Sequence[tuple[str, str]]
) -> int:
    """Make sure each lane has a job; returns how many jobs were enqueued."""
    if not lanes:
        return 0
    await connection.execute(
        insert_ignoring(hub.database, delivery_lanes),
        [{"endpoint_id": e, "lane": lane, "active": False} for e, lane in lanes],
    )
    key = tuple_(delivery_lanes.c.endpoint_id, delivery_lanes.c.lane)
    # Lock every lane row, busy or not: a job about to release its lane must wait for this
    # transaction, and then sees the deliveries it stored.
    locked = (
        await connection.execute(
            select(delivery_lanes.c.endpoint_id, delivery_lanes.c.lane, delivery_lanes.c.active)
            .where(key.in_(list(lanes)))
            .order_by(delivery_lanes.c.endpoint_id, delivery_lanes.c.lane)
            .with_for_update()
        )
    ).all()
    idle = [(row.endpoint_id, row.lane) for row in locked if not row.active]
    if not idle:
        return 0
    await connection.execute(update(delivery_lanes).where(key.in_(idle)).values(active=True))
    await hub.queue.enqueue_many(connection, [lane_job(e, lane) for e, lane in idle])
    return len(idle)


def lane_job(endpoint_id: str, lane: str) -> NewJob:
    return NewJob(
        LANE_TASK,
        {"endpoint_id": endpoint_id, "lane": lane},
        dedupe_key=lane_key(endpoint_id, lane),
    )


def lane_key(endpoint_id: str, lane: str) -> str:
    return f"lane:{endpoint_id}:{lane}"[:255]


async def repair_lanes(hub: Core) -> int:
    """Give a job back to every active lane that lost its own (it went to dead letter after
    repeated unexpected errors); returns how many lanes were repaired."""
    async with hub.database.read() as connection:
        active = (
            await connection.execute(
                select(delivery_lanes.c.endpoint_id, delivery_lanes.c.lane).where(
                    delivery_lanes.c.active.is_(True)
                )
            )
        ).all()
        if not active:
            return 0
        keys = {lane_key(e, lane): (e, lane) for e, lane in active}
        alive = await live_dedupe_keys(connection, keys)
    lost = [keys[key] for key in keys if key not in alive]
    repaired = 0
    for endpoint_id, lane in lost:
        async with hub.database.transaction() as tx:
            await tx.execute(
                select(delivery_lanes.c.active)
                .where(delivery_lanes.c.endpoint_id == endpoint_id, delivery_lanes.c.lane == lane)
                .with_for_update()
            )
            if not await live_dedupe_keys(tx, [lane_key(endpoint_id, lane)]):
                repaired += await hub.queue.enqueue_many(tx, [lane_job(endpoint_id, lane)])
    return repaired


async def release_lane(connection: AsyncConnection, endpoint_id: str, lane: str) -> bool:
    """Mark the lane idle if it has nothing left to send; False when it still has work."""
    await connection.execute(
        select(delivery_lanes.c.active)
        .where(delivery_lanes.c.endpoint_id == endpoint_id, delivery_lanes.c.lane == lane)
        .with_for_update()
    )
    left = (
        await connection.execute(
            select(deliveries.c.id)
            .where(
                deliveries.c.endpoint_id == endpoint_id,
                deliveries.c.lane == lane,
                lane_open(),
                deliveries.c.status.in_(WORKABLE),
            )
            .limit(1)
        )
    ).first()
    if left is not None:
        return False
    await connection.execute(
        update(delivery_lanes)
        .where(delivery_lanes.c.endpoint_id == endpoint_id, delivery_lanes.c.lane == lane)
        .values(active=False)
    )
    return True
