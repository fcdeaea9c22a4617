"""The event log: storing events and fanning them out, in the caller's transaction.

Every way an event enters Renkei (tracking API, inbound webhooks, publishing, polling
syncs) ends here, so "stored" and "its deliveries and flow runs exist" always commit
together.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import Event
from renkei.store.inline_sqlite import InlineConnection
from renkei.store.tables import events as events_table

if TYPE_CHECKING:
    from renkei.hub import Hub

_CHUNK = 1000
_INSERT_RETURNING = pg_insert(events_table).on_conflict_do_nothing().returning(events_table.c.id)
_SQLITE_CHUNK = 500  # x 10 parameters, well under SQLite's 32,766
# From this many rows an insert runs beside the event loop (see InlineConnection).
_OFFLOAD_FROM = 64


def event_row(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "name": event.name,
        "source_id": event.source_id,
        "user_id": event.user_id,
        "anonymous_id": event.anonymous_id,
        "email": event.email,
        "data": event.data,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
    }


async def record_events(
    hub: Hub, connection: AsyncConnection, events: Sequence[Event]
) -> list[Event]:
    """Store ``events`` and fan out the new ones; returns the new ones.

    An event whose id is already stored (a retried request, a duplicate ``messageId``)
    is dropped silently: that is the dedupe guarantee.
    """
    if hub.database.is_sqlite:
        fresh = await _insert_sqlite(connection, events)
    else:
        fresh = await _insert_returning(connection, events)
    if fresh:
        await hub.fan_out(connection, fresh)
    return fresh


def _dedupe(events: Sequence[Event], inserted: set[str]) -> list[Event]:
    fresh: list[Event] = []
    for event in events:
        if event.id in inserted:
            inserted.discard(event.id)  # a second copy in the same call is a duplicate
            fresh.append(event)
    return fresh


async def _insert_returning(connection: AsyncConnection, events: Sequence[Event]) -> list[Event]:
    """PostgreSQL: ``ON CONFLICT DO NOTHING RETURNING id`` tells which rows are new, even
    with other nodes inserting concurrently. One statement object executed with many
    parameter sets is compiled once; SQLAlchemy batches the rows into multi-row INSERTs."""
    fresh: list[Event] = []
    for start in range(0, len(events), _CHUNK):
        chunk = events[start : start + _CHUNK]
        result = await connection.execute(_INSERT_RETURNING, [event_row(e) for e in chunk])
        fresh += _dedupe(chunk, set(result.scalars()))
    return fresh


async def _insert_sqlite(connection: AsyncConnection, events: Sequence[Event]) -> list[Event]:
    """SQLite: one multi-row ``INSERT ... ON CONFLICT DO NOTHING`` per chunk, sent straight
    to the driver in the storage format SQLAlchemy uses (JSON text, naive UTC
    ``YYYY-MM-DD HH:MM:SS.ffffff``). This is the hot path of ingest: through the driver a
    statement is one call instead of four (cursor, execute, fetch, close).

    Which rows are new is read from the insert's own count: under the write lock the rows
    of one statement get consecutive ``seq`` values ending at the last inserted rowid, so
    when some were duplicates the new ones are read back by ``seq`` (``RETURNING`` would
    cost every insert, for the rare request that repeats a ``messageId``)."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    times: dict[datetime, str] = {}

    def stamp(when: datetime) -> str:
        text = times.get(when)
        if text is None:
            naive = when.astimezone(UTC).replace(tzinfo=None)
            text = times[when] = naive.isoformat(" ", "microseconds")
        return text

    fresh: list[Event] = []
    for start in range(0, len(events), _SQLITE_CHUNK):
        chunk = events[start : start + _SQLITE_CHUNK]
        parameters: list[Any] = []
        for event in chunk:
            parameters += (
                event.id,
                event.type,
                event.name,
                event.source_id,
                event.user_id,
                event.anonymous_id,
                event.email,
                orjson.dumps(event.data).decode(),
                stamp(event.occurred_at),
                stamp(event.received_at),
            )
        statement = _sqlite_insert(len(chunk))
        if isinstance(driver, InlineConnection):
            offload = len(chunk) >= _OFFLOAD_FROM
            inserted, last_seq = await driver.execute_insert(statement, parameters, offload=offload)
        else:
            async with driver.execute(statement, parameters) as cursor:
                inserted, last_seq = cursor.rowcount, cursor.lastrowid
        if inserted == len(chunk):
            fresh += chunk
        elif inserted > 0:
            rows = await driver.execute_fetchall(
                "SELECT id FROM events WHERE seq > ? AND seq <= ?",
                (last_seq - inserted, last_seq),
            )
            fresh += _dedupe(chunk, {row[0] for row in rows})
    return fresh


_SQLITE_INSERT_HEAD = (
    "INSERT INTO events (id, type, name, source_id, user_id, anonymous_id, email, data,"
    " occurred_at, received_at) VALUES "
)


@functools.lru_cache(maxsize=64)
def _sqlite_insert(count: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)
    return "".join((_SQLITE_INSERT_HEAD, values, " ON CONFLICT DO NOTHING"))
