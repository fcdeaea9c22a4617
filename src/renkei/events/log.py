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
IDENTITY_OWNERS = "renkei.identity_owners"
"""``connection.info`` key: set it to a dict and a SQLite insert fills it with
``{(kind, value): profile id or None}`` for the new events' user and anonymous ids."""
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
    """SQLite: one multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` per chunk,
    sent straight to the driver in the storage format SQLAlchemy uses (JSON text, naive
    UTC ``YYYY-MM-DD HH:MM:SS.ffffff``). This is the hot path of ingest: through the
    driver a statement is one trip to aiosqlite's thread instead of four (cursor, execute,
    fetch, close), and each trip waits for a turn of a busy event loop."""
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
    # Asked for by ingest (events/ingest.py): the owners of the new events' user and
    # anonymous ids come back with the insert, so profile resolution needs no trip of its own.
    owners: dict[tuple[str, str], str | None] | None = connection.info.get(IDENTITY_OWNERS)
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
            rows = await driver.execute_fetchall(statement, parameters, offload=offload)
        else:
            rows = await driver.execute_fetchall(statement, parameters)
        fresh += _dedupe(chunk, {row[0] for row in rows})
        if owners is not None:
            for _, user_id, user_owner, anonymous_id, anonymous_owner in rows:
                if user_id:
                    owners[("user_id", user_id)] = user_owner
                if anonymous_id:
                    owners[("anonymous_id", anonymous_id)] = anonymous_owner
    return fresh


_SQLITE_INSERT_HEAD = (
    "INSERT INTO events (id, type, name, source_id, user_id, anonymous_id, email, data,"
    " occurred_at, received_at) VALUES "
)
_SQLITE_INSERT_TAIL = (
    " ON CONFLICT DO NOTHING RETURNING id,"
    " user_id, (SELECT profile_id FROM identities WHERE kind = 'user_id' AND value = user_id),"
    " anonymous_id,"
    " (SELECT profile_id FROM identities WHERE kind = 'anonymous_id' AND value = anonymous_id)"
)


@functools.lru_cache(maxsize=64)
def _sqlite_insert(count: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)
    return "".join((_SQLITE_INSERT_HEAD, values, _SQLITE_INSERT_TAIL))
