"""Deliveries: what was sent where, their attempts, and sending one again."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from renkei.delivery import queries
from renkei.errors import Invalid, NotFound, RenkeiError
from renkei.events.history import get_event
from renkei.store.tables.webhooks import DELIVERY_STATUSES
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "deliveries_of_event",
    "delivery_attempts",
    "get_delivery",
    "list_deliveries",
    "resend",
]


async def list_deliveries(
    hub: Hub,
    actor: Actor,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    endpoint_id: str | None = None,
    status: str | None = None,
    event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Listed[dict[str, Any]]:
    """Newest first."""
    require(actor, "read")
    if status is not None and status not in DELIVERY_STATUSES:
        # A mistyped status would otherwise match nothing and read as "no deliveries".
        raise Invalid(
            f"status must be one of {', '.join(DELIVERY_STATUSES)}", details={"path": "status"}
        )
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    if before is not None and not isinstance(before, int):
        raise RenkeiError("cursor is not valid", code="invalid_cursor")
    async with hub.database.read() as connection:
        rows = await queries.list_deliveries(
            connection,
            limit=size + 1,
            before_seq=before,
            endpoint_id=endpoint_id,
            status=status,
            event_id=event_id,
            since=since,
            until=until,
        )
    listed = Listed.cut(rows, size, lambda pair: pair[0])
    return Listed([row for _, row in listed.items], listed.next_cursor)


async def get_delivery(hub: Hub, actor: Actor, delivery_id: str) -> dict[str, Any]:
    """A delivery with its latest attempts (``attempt_history``)."""
    require(actor, "read")
    async with hub.database.read() as connection:
        return await queries.get_delivery(connection, delivery_id)


async def delivery_attempts(hub: Hub, actor: Actor, delivery_id: str) -> list[dict[str, Any]]:
    """Every attempt of a delivery (up to 500), newest first."""
    require(actor, "read")
    async with hub.database.read() as connection:
        await queries.get_delivery(connection, delivery_id)
        return await queries.list_attempts(connection, delivery_id=delivery_id, limit=500)


async def deliveries_of_event(hub: Hub, actor: Actor, event_id: str) -> list[dict[str, Any]]:
    """An event's deliveries, oldest first."""
    require(actor, "read")
    async with hub.database.read() as connection:
        if await get_event(connection, event_id) is None:
            raise NotFound("event", event_id)
        return await queries.deliveries_of_event(connection, event_id)


async def resend(
    hub: Hub, actor: Actor, delivery_id: str, *, via: str | None = None
) -> dict[str, Any]:
    """Send a delivery again now, whatever became of it; ``{"id", "status": "pending"}``."""
    require(actor, "write")
    result = await hub.webhooks.resend(delivery_id)
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            actor,
            "delivery.resent",
            target_type="delivery",
            target_id=delivery_id,
            details=with_via(via),
        )
    return result
