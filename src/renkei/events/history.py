"""Reading the event log: the API's event list and detail, and ``renkei tail``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import format_timestamp
from renkei.store.tables import events

__all__ = ["EventQuery", "event_data", "event_dict", "get_event", "latest_seq", "list_events"]


@dataclass(slots=True)
class EventQuery:
    types: Sequence[str] = ()
    name: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    source_id: str | None = None
    since: datetime | None = None
    """``received_at`` at or after."""
    until: datetime | None = None
    """``received_at`` before."""
    before_seq: int | None = None
    after_seq: int | None = None
    limit: int = 50
    oldest_first: bool = False


def event_data(data: Any) -> dict[str, Any]:
    """A stored event's ``data`` as the object readers promise. Renkei stores objects only;
    a row holding another JSON value (written before that rule, or behind Renkei's back)
    reads as ``{"value": <it>}`` instead of breaking every listing that includes it."""
    return data if isinstance(data, dict) else {"value": data}


def event_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "name": row.name,
        "user_id": row.user_id,
        "anonymous_id": row.anonymous_id,
        "email": row.email,
        "data": event_data(row.data),
        "occurred_at": format_timestamp(row.occurred_at),
        "received_at": format_timestamp(row.received_at),
        "source_id": row.source_id,
    }


async def list_events(connection: AsyncConnection, query: EventQuery) -> list[Any]:
    """Rows of ``events`` (with ``seq``), newest first unless ``oldest_first``."""
    statement = select(events)
    if len(query.types) == 1:
        statement = statement.where(events.c.type == query.types[0])
    elif query.types:
        statement = statement.where(events.c.type.in_(list(query.types)))
    if query.name is not None:
        statement = statement.where(events.c.name == query.name)
    if query.user_id is not None:
        statement = statement.where(events.c.user_id == query.user_id)
    if query.anonymous_id is not None:
        statement = statement.where(events.c.anonymous_id == query.anonymous_id)
    if query.source_id is not None:
        statement = statement.where(events.c.source_id == query.source_id)
    if query.since is not None:
        statement = statement.where(events.c.received_at >= query.since)
    if query.until is not None:
        statement = statement.where(events.c.received_at < query.until)
    if query.before_seq is not None:
        statement = statement.where(events.c.seq < query.before_seq)
    if query.after_seq is not None:
        statement = statement.where(events.c.seq > query.after_seq)
    order = events.c.seq.asc() if query.oldest_first else events.c.seq.desc()
    return list(await connection.execute(statement.order_by(order).limit(query.limit)))


async def get_event(connection: AsyncConnection, event_id: str) -> Any:
    return (await connection.execute(select(events).where(events.c.id == event_id))).first()


async def latest_seq(connection: AsyncConnection) -> int:
    return int((await connection.execute(select(func.max(events.c.seq)))).scalar() or 0)
