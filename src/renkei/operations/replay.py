"""``endpoint.replay`` and ``flow.replay``: stored events sent to a target as if they had
just arrived (issue 17, item 4).

An item is a stored event in the window (``received_at``), oldest first. It goes to the
target when the target's current subscription (an endpoint's event types and filter) or
trigger (a flow's) takes it, and only if the target has nothing for it yet: an endpoint
has at most one delivery per event, a flow one run per event. So a replay, or two, or a
replay racing live traffic, sends each event at most once per target. What it creates goes
the way of live traffic: FIFO lanes, pauses, rate limits, quotas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.fanout import create_deliveries
from renkei.events.envelope import Event
from renkei.events.history import EventQuery, event_data, list_events
from renkei.operations.batch import Batch, moment, window
from renkei.queue import GiveUp
from renkei.store.config_version import read_version
from renkei.store.tables.core import events
from renkei.store.tables.flows import flow_runs
from renkei.store.tables.webhooks import deliveries

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks
    from renkei.flows.engine import FlowEngine

__all__ = ["ENDPOINT_KIND", "FLOW_KIND", "count", "endpoint_batch", "flow_batch"]

ENDPOINT_KIND = "endpoint.replay"
FLOW_KIND = "flow.replay"


def _where(filter: dict[str, Any]) -> list[ColumnElement[bool]]:
    clauses = window(events.c.received_at, filter)
    if filter.get("event_types"):
        clauses.append(events.c.type.in_(filter["event_types"]))
    return clauses


async def count(connection: AsyncConnection, filter: dict[str, Any]) -> int:
    query = select(func.count()).select_from(events).where(*_where(filter))
    return int((await connection.execute(query)).scalar() or 0)


async def _events(
    tx: AsyncConnection, filter: dict[str, Any], cursor: Any, size: int
) -> tuple[Any, list[Event]]:
    """The next events of the window after ``cursor`` (an event's ``seq``), oldest first."""
    query = EventQuery(
        types=tuple(filter.get("event_types") or ()),
        since=moment(filter.get("since")),
        until=moment(filter.get("until")),
        after_seq=int(cursor or 0),
        limit=size,
        oldest_first=True,
    )
    rows = await list_events(tx, query)
    return (rows[-1].seq if rows else None), [_event(row) for row in rows]


async def endpoint_batch(
    webhooks: Webhooks, tx: AsyncConnection, filter: dict[str, Any], cursor: Any, size: int
) -> Batch:
    last, found = await _events(tx, filter, cursor, size)
    if not found:
        return Batch(None)
    endpoint_id = str(filter["endpoint_id"])
    snapshot = await webhooks.catalog.get(tx, min_version=await read_version(tx))
    target = snapshot.targets.get(endpoint_id)
    if target is None:
        raise GiveUp(f"endpoint {endpoint_id} no longer exists")
    sent = set(
        (
            await tx.execute(
                select(deliveries.c.event_id).where(
                    deliveries.c.endpoint_id == endpoint_id,
                    deliveries.c.event_id.in_([event.id for event in found]),
                )
            )
        ).scalars()
    )
    wanted = [
        (event, target)
        for event in found
        if event.id not in sent and any(t.id == endpoint_id for t in snapshot.match(event))
    ]
    created = await create_deliveries(webhooks.hub, tx, wanted)
    return Batch(last, done=len(found), skipped=len(found) - len(created))


async def flow_batch(
    flows: FlowEngine, tx: AsyncConnection, filter: dict[str, Any], cursor: Any, size: int
) -> Batch:
    last, found = await _events(tx, filter, cursor, size)
    if not found:
        return Batch(None)
    flow_id = str(filter["flow_id"])
    ran = set(
        (
            await tx.execute(
                select(flow_runs.c.event_id).where(
                    flow_runs.c.flow_id == flow_id,
                    flow_runs.c.event_id.in_([event.id for event in found]),
                )
            )
        ).scalars()
    )
    fresh = [event for event in found if event.id not in ran]
    started = await flows.fan_out(tx, fresh, only_flow=flow_id) if fresh else 0
    return Batch(last, done=len(found), skipped=len(found) - started)


def _event(row: Any) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        name=row.name,
        data=event_data(row.data),
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        source_id=row.source_id or "",
        user_id=row.user_id,
        anonymous_id=row.anonymous_id,
        email=row.email,
    )
