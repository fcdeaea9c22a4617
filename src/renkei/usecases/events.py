"""The event log: events newest first, one event with what became of it (its webhook
deliveries and the flow runs it started), and the events as they arrive.

Following polls the log by ``seq``. With many writers, transactions can commit out of
``seq`` order (several API nodes, publishing beside ingest), so each poll also looks back
over the last few hundred positions for rows that appeared late; with a single writer
(``Database.single_writer``) commits are serial.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from renkei.errors import NotFound, RenkeiError
from renkei.events import history
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["EventDetail", "follow_events", "get_event", "list_events"]

_BATCH = 500
_LOOKBACK = 200


@dataclass(frozen=True, slots=True)
class EventDetail:
    event: dict[str, Any]  # as the log lists it (``events.history.event_dict``)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    flow_runs: list[dict[str, Any]] = field(default_factory=list)


async def list_events(
    hub: Hub,
    actor: Actor,
    *,
    types: Sequence[str] = (),
    name: str | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    source_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Listed[dict[str, Any]]:
    """Newest first; ``since``/``until`` bound ``received_at``."""
    require(actor, "read")
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    if before is not None and not isinstance(before, int):
        raise RenkeiError("cursor is not valid", code="invalid_cursor")
    query = history.EventQuery(
        types=types,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        source_id=source_id,
        since=since,
        until=until,
        before_seq=before,
        limit=size + 1,
    )
    async with hub.database.read() as connection:
        rows = await history.list_events(connection, query)
    listed = Listed.cut(rows, size, lambda row: row.seq)
    return Listed([history.event_dict(row) for row in listed.items], listed.next_cursor)


async def get_event(hub: Hub, actor: Actor, event_id: str) -> EventDetail:
    """One event, with its deliveries and flow runs asked of the services that own them."""
    require(actor, "read")
    async with hub.database.read() as connection:
        row = await history.get_event(connection, event_id)
        if row is None:
            raise NotFound("event", event_id)
        return EventDetail(
            event=history.event_dict(row),
            deliveries=await hub.webhooks.deliveries_of_event(connection, event_id),
            flow_runs=await hub.flows.runs_for_event(connection, event_id),
        )


async def follow_events(
    hub: Hub,
    actor: Actor,
    *,
    types: Sequence[str] = (),
    source_id: str | None = None,
    last: int = 0,
    follow: bool = True,
    interval: float = 0.5,
) -> AsyncGenerator[dict[str, Any], None]:
    """The ``last`` events (oldest first), then, ``follow``-ing, each new one as it
    arrives, every ``interval`` seconds at most; the caller stops when it has enough."""
    require(actor, "read")

    def query(**options: Any) -> history.EventQuery:
        return history.EventQuery(types=types, source_id=source_id, **options)

    async with hub.database.read() as connection:
        cursor = await history.latest_seq(connection)
        backlog = await history.list_events(connection, query(limit=last)) if last else []
    for row in reversed(backlog):
        yield history.event_dict(row)
    start, seen = cursor, set[int]()
    while follow:
        async with hub.database.read() as connection:
            rows = await history.list_events(
                connection, query(after_seq=cursor, limit=_BATCH, oldest_first=True)
            )
            if not hub.database.single_writer:
                floor = max(start, cursor - _LOOKBACK)
                late = await history.list_events(
                    connection, query(after_seq=floor, limit=_LOOKBACK, oldest_first=True)
                )
                rows = [row for row in late if row.seq <= cursor] + rows
        fresh = [row for row in rows if row.seq not in seen]
        for row in sorted(fresh, key=lambda found: found.seq):
            seen.add(row.seq)
            cursor = max(cursor, row.seq)
            yield history.event_dict(row)
        seen = {seq for seq in seen if seq > cursor - _LOOKBACK}
        if not fresh:
            await hub.clock.sleep(interval)
