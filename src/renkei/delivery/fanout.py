"""Fan-out: one delivery per matching endpoint, stored with the event in one transaction.

Unordered endpoints get one ``deliveries.send`` job per delivery. Ordered (FIFO)
endpoints get one ``deliveries.lane`` job per lane (endpoint x ordering key) that is not
already being worked, and that job sends the lane's deliveries one after another.
A paused endpoint's deliveries are stored as ``held`` and go out when it is resumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.catalog import event_document
from renkei.delivery.ordering import activate_lanes
from renkei.events.envelope import Event
from renkei.ids import new_id
from renkei.queue import NewJob
from renkei.store.tables.webhooks import deliveries, endpoints

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks

SEND_TASK = "deliveries.send"
CREATED_BY_EVENT = "renkei.deliveries_created_by_event"
"""``connection.info`` dict: event id → deliveries created for it in the transaction."""
_CHUNK = 500


def send_job(delivery_id: str) -> NewJob:
    return NewJob(SEND_TASK, {"d": delivery_id})


async def fan_out(webhooks: Webhooks, connection: AsyncConnection, events: Sequence[Any]) -> int:
    """The ``hub.fanout`` handler; returns how many deliveries it created."""
    snapshot = await webhooks.catalog.get(connection)
    if not snapshot.targets:
        return 0
    now = webhooks.hub.clock.now()
    paused: dict[str, bool] = {}
    rows: list[dict[str, Any]] = []
    jobs: list[NewJob] = []
    lanes: set[tuple[str, str]] = set()
    for event in events:
        if not isinstance(event, Event):
            continue
        matched = snapshot.match(event)
        if not matched:
            continue
        document = event_document(event) if any(t.endpoint.ordered for t in matched) else None
        by_event = connection.info.setdefault(CREATED_BY_EVENT, {})
        by_event[event.id] = by_event.get(event.id, 0) + len(matched)
        for target in matched:
            delivery_id = new_id("dlv")
            lane = None
            if target.endpoint.ordered:
                assert document is not None
                lane = target.lane_for(document)
            held = target.endpoint.disabled
            if held:
                if target.id not in paused:
                    paused[target.id] = await _still_paused(connection, target.id)
                held = paused[target.id]
            rows.append(
                {
                    "id": delivery_id,
                    "event_id": event.id,
                    "endpoint_id": target.id,
                    "event_type": event.type,
                    "status": "held" if held else "pending",
                    "lane": lane,
                    "attempts": 0,
                    "next_attempt_at": None if held else now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if held:
                continue
            if lane is not None:
                lanes.add((target.id, lane))
            else:
                jobs.append(send_job(delivery_id))
    for start in range(0, len(rows), _CHUNK):
        await connection.execute(insert(deliveries), rows[start : start + _CHUNK])
    if jobs:
        await webhooks.hub.queue.enqueue_many(connection, jobs)
    if lanes:
        await activate_lanes(webhooks.hub, connection, sorted(lanes))
    return len(rows)


async def _still_paused(connection: AsyncConnection, endpoint_id: str) -> bool:
    """Whether the endpoint the snapshot shows disabled still is, read under a share lock.

    A snapshot can predate a resume: a delivery stored ``held`` after the resume looked for
    held deliveries would never be released. With the lock, either the resume waits for
    this transaction (and then sees the held delivery) or this reads the resumed endpoint.
    """
    disabled = (
        await connection.execute(
            select(endpoints.c.disabled)
            .where(endpoints.c.id == endpoint_id)
            .with_for_update(read=True)
        )
    ).scalar()
    return disabled is None or bool(disabled)
