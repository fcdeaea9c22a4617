"""The event type catalog: what may be published, with an optional JSON Schema and example."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from renkei.delivery import event_types as catalog
from renkei.delivery.event_types import EventType
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "archive_event_type",
    "create_event_type",
    "get_event_type",
    "list_event_types",
    "update_event_type",
]


async def create_event_type(
    hub: Hub,
    actor: Actor,
    *,
    name: str,
    description: str = "",
    schema: dict[str, Any] | None = None,
    example: Any = None,
    planned: bool = False,
    via: str | None = None,
) -> EventType:
    require(actor, "write")
    async with hub.database.transaction() as tx:
        kind = await catalog.create_event_type(
            tx,
            name=name,
            description=description,
            schema=schema,
            example=example,
            now=hub.clock.now(),
            planned=planned,
        )
        await hub.audit(
            tx,
            actor,
            "event_type.created",
            target_type="event_type",
            target_id=name,
            details=with_via(via),
        )
    return kind


async def list_event_types(
    hub: Hub,
    actor: Actor,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    include_archived: bool = False,
) -> Listed[EventType]:
    """By name; archived types only when asked."""
    require(actor, "read")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        found = await catalog.list_event_types(
            connection,
            limit=size + 1,
            after=str(after) if after is not None else None,
            include_archived=include_archived,
        )
    return Listed.cut(found, size, lambda kind: kind.name)


async def get_event_type(hub: Hub, actor: Actor, name: str) -> EventType:
    require(actor, "read")
    async with hub.database.read() as connection:
        return await catalog.get_event_type(connection, name)


async def update_event_type(
    hub: Hub, actor: Actor, name: str, changes: Mapping[str, Any], *, via: str | None = None
) -> EventType:
    """Change ``description``, ``schema``, ``example``, ``archived`` or ``planned``."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        kind = await catalog.update_event_type(tx, name, dict(changes), now=hub.clock.now())
        await hub.audit(
            tx,
            actor,
            "event_type.updated",
            target_type="event_type",
            target_id=name,
            details=with_via(via, {"fields": sorted(changes)}),
        )
    return kind


async def archive_event_type(hub: Hub, actor: Actor, name: str, *, via: str | None = None) -> None:
    """The type disappears from listings; events already published keep it."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        await catalog.archive_event_type(tx, name, now=hub.clock.now())
        await hub.audit(
            tx,
            actor,
            "event_type.archived",
            target_type="event_type",
            target_id=name,
            details=with_via(via),
        )
