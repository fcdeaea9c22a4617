"""The event log: storing events and fanning them out, in the caller's transaction.

Every way an event enters Renkei (tracking API, inbound webhooks, publishing, polling
syncs) ends here, so "stored" and "its deliveries and flow runs exist" always commit
together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import Event
from renkei.events.suppressions import drop_suppressed
from renkei.observability import tracing
from renkei.store.database import Database
from renkei.store.event_writes import EventWrites, PreparedRow, event_writes

if TYPE_CHECKING:
    from renkei.core import Core


@dataclass(slots=True)
class Admitted:
    """What :func:`admit_events` found new and fanned out, for :func:`write_admitted`."""

    events: list[Event]
    written: bool
    """Inserted already (not when the database defers a big group's insert to the end)."""
    rows: Mapping[str, PreparedRow]
    writes: EventWrites


async def record_events(
    hub: Core, connection: AsyncConnection, events: Sequence[Event]
) -> list[Event]:
    """Store ``events`` and fan out the new ones; returns the new ones.

    An event whose id is already stored (a retried request, a duplicate ``messageId``)
    is dropped silently: that is the dedupe guarantee.
    """
    started = tracing.now_ns() if tracing.ENABLED else 0
    admitted = await admit_events(hub, connection, events)
    await write_admitted(connection, admitted)
    if tracing.ENABLED:
        for event in admitted.events:
            tracing.record(
                "renkei.publish",
                event_id=event.id,
                start_ns=started,
                root=True,
                attributes={"renkei.event.type": event.type, "renkei.source.id": event.source_id},
            )
    return admitted.events


async def admit_events(
    hub: Core,
    connection: AsyncConnection,
    events: Sequence[Event],
    *,
    rows: Mapping[str, PreparedRow] | None = None,
) -> Admitted:
    """The first half of :func:`record_events`: find the new events and fan them out.

    The caller passes the result to :func:`write_admitted` in the same transaction: how
    the new events are found, and whether they are inserted now or with the commit, is
    the database's (``store/event_writes.py``). ``rows``: rows made earlier with
    :func:`prepare_rows`, by event id (the others are made when needed).
    """
    rows = rows or {}
    writes = event_writes(hub.database)
    events = await drop_suppressed(hub, connection, events)
    fresh, written = await writes.admit(connection, events, rows)
    if fresh:
        started = tracing.now_ns() if tracing.ENABLED else 0
        await hub.fan_out(connection, fresh)
        if tracing.ENABLED:
            for event in fresh:
                tracing.record("renkei.fanout", event_id=event.id, start_ns=started)
    return Admitted(fresh, written, rows, writes)


async def write_admitted(
    connection: AsyncConnection, admitted: Admitted, *, and_commit: bool = False
) -> None:
    """The second half of :func:`record_events`: insert what is not written yet.
    ``and_commit``: when that insert runs beside the event loop, commit the transaction in
    the same call (the transaction's own commit then finds nothing to do); nothing may
    follow in the transaction."""
    if admitted.written or not admitted.events:
        return
    await admitted.writes.write(connection, admitted.events, admitted.rows, and_commit=and_commit)


def prepare_rows(database: Database, events: Sequence[Event]) -> list[PreparedRow] | None:
    """The events' rows, made ahead of their transaction (for :func:`admit_events`'s
    ``rows``) when the database gains by it; ``events`` must not change afterwards."""
    writes = event_writes(database)
    return [writes.row(event) for event in events] if writes.prepares_rows else None


async def store_events(
    database: Database, connection: AsyncConnection, events: Sequence[Event]
) -> list[Event]:
    """Store ``events`` without fanning them out (an event meant for one recipient);
    returns the new ones. A duplicate id is dropped, as in :func:`record_events`."""
    writes = event_writes(database)
    fresh, written = await writes.admit(connection, events, {})
    if not written:
        await writes.write(connection, fresh, {}, and_commit=False)
    return fresh
