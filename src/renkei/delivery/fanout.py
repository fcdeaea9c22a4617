"""Fan-out: one delivery per matching endpoint, stored with the event in one transaction.

Unordered endpoints get one ``deliveries.send`` job per delivery. Ordered (FIFO)
endpoints get one ``deliveries.lane`` job per lane (endpoint x ordering key) that is not
already being worked, and that job sends the lane's deliveries one after another.
A paused endpoint's deliveries are stored as ``held`` and go out when it is resumed.

:func:`create_deliveries` is the one place new deliveries are stored, for fan-out and for
a flow's endpoint action (:func:`deliver_to`) alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.deliver import DeliveryRow
from renkei.delivery.ordering import activate_lanes
from renkei.delivery.targets import Target
from renkei.events.envelope import Event
from renkei.ids import new_id
from renkei.queue import NewJob
from renkei.store.config_version import read_version
from renkei.store.direct import DirectWrite
from renkei.store.tables.webhooks import deliveries, endpoints

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.delivery.service import Webhooks

SEND_TASK = "deliveries.send"
CREATED_BY_EVENT = "renkei.deliveries_created_by_event"
"""``connection.info`` dict: event id → deliveries created for it in the transaction."""
_CHUNK = 500
_INSERT_DELIVERIES = DirectWrite(insert(deliveries))


def send_job(delivery_id: str, loaded: DeliveryRow | None = None) -> NewJob:
    """``loaded``: the delivery as the task would read it, for a job taken at enqueue."""
    return NewJob(SEND_TASK, {"d": delivery_id}, loaded=loaded)


async def fan_out(webhooks: Webhooks, connection: AsyncConnection, events: Sequence[Any]) -> int:
    """The ``hub.fanout`` handler; returns how many deliveries it created."""
    snapshot = await webhooks.catalog.get(connection)
    if not snapshot.targets:
        return 0
    wanted: list[tuple[Event, Target]] = []
    for event in events:
        if not isinstance(event, Event):
            continue
        matched = snapshot.match(event)
        if not matched:
            continue
        by_event = connection.info.setdefault(CREATED_BY_EVENT, {})
        by_event[event.id] = by_event.get(event.id, 0) + len(matched)
        wanted.extend((event, target) for target in matched)
    return len(await create_deliveries(webhooks.hub, connection, wanted))


@dataclass(frozen=True)
class NewDelivery:
    id: str
    event_id: str
    endpoint_id: str
    status: str
    """``pending``, or ``held`` while the endpoint is paused."""
    lane: str | None
    """The FIFO lane of an ordered endpoint; ``None`` when unordered."""


async def create_deliveries(
    hub: Core, connection: AsyncConnection, wanted: Sequence[tuple[Event, Target]]
) -> list[NewDelivery]:
    """Store one delivery per (event, endpoint), in order, and what will send it.

    The one writer of new ``deliveries`` rows (fan-out, and a flow's endpoint action,
    through :func:`deliver_to`): an unordered delivery gets its ``deliveries.send`` job, an
    ordered one its lane (whose job is started unless running), and a paused endpoint's
    is stored ``held``, sent when the endpoint is resumed.
    """
    now = hub.clock.now()
    paused: dict[str, bool] = {}
    documents: dict[str, dict[str, Any]] = {}
    created: list[NewDelivery] = []
    jobs: list[NewJob] = []
    lanes: set[tuple[str, str]] = set()
    for event, target in wanted:
        lane = None
        if target.endpoint.ordered:
            if event.id not in documents:
                documents[event.id] = event.to_dict()
            lane = target.lane_for(documents[event.id])
        held = target.endpoint.disabled
        if held:
            if target.id not in paused:
                paused[target.id] = await _still_paused(connection, target.id)
            held = paused[target.id]
        delivery = NewDelivery(
            new_id("dlv"), event.id, target.id, "held" if held else "pending", lane
        )
        created.append(delivery)
        if held:
            continue
        if lane is not None:
            lanes.add((target.id, lane))
        else:
            loaded = DeliveryRow(
                id=delivery.id,
                event_id=event.id,
                endpoint_id=target.id,
                event_type=event.type,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                lane=None,
                data=event.data,
                occurred_at=event.occurred_at,
            )
            jobs.append(send_job(delivery.id, loaded))
    rows = [
        {
            "id": delivery.id,
            "event_id": delivery.event_id,
            "endpoint_id": delivery.endpoint_id,
            "event_type": event.type,
            "status": delivery.status,
            "lane": delivery.lane,
            "attempts": 0,
            "next_attempt_at": None if delivery.status == "held" else now,
            "created_at": now,
            "updated_at": now,
        }
        for delivery, (event, _) in zip(created, wanted, strict=True)
    ]
    for start in range(0, len(rows), _CHUNK):
        await _INSERT_DELIVERIES.executemany(connection, rows[start : start + _CHUNK])
    if jobs:
        await hub.queue.enqueue_many(connection, jobs)
    if lanes:
        await activate_lanes(hub, connection, sorted(lanes))
    return created


async def find_endpoint(connection: AsyncConnection, ref: str) -> Any:
    """The live endpoint with this id or name (the oldest of that name), or ``None``."""
    return (
        await connection.execute(
            select(endpoints.c.id, endpoints.c.disabled, endpoints.c.url)
            .where(or_(endpoints.c.id == ref, endpoints.c.name == ref))
            .where(endpoints.c.deleted_at.is_(None))
            .order_by(endpoints.c.created_at)
            .limit(1)
        )
    ).first()


async def deliver_to(
    webhooks: Webhooks, connection: AsyncConnection, event: Event, endpoint_id: str
) -> tuple[NewDelivery | None, str]:
    """One delivery of a stored ``event`` to this endpoint only, whatever it subscribes to.

    Returns the new delivery, or ``None`` and the id of the one this event already has
    there (a retried flow step). The endpoint is taken from a snapshot at least as new as
    the configuration this transaction reads, so its ordering and pause are current.
    """
    existing = (
        await connection.execute(
            select(deliveries.c.id).where(
                deliveries.c.event_id == event.id, deliveries.c.endpoint_id == endpoint_id
            )
        )
    ).scalar()
    if existing is not None:
        return None, str(existing)
    version = await read_version(connection)
    snapshot = await webhooks.catalog.get(connection, min_version=version)
    target = snapshot.targets.get(endpoint_id)
    if target is None:
        raise LookupError(f"endpoint {endpoint_id!r} does not exist")
    [delivery] = await create_deliveries(webhooks.hub, connection, [(event, target)])
    return delivery, delivery.id


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
