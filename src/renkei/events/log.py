"""The event log: storing events and fanning them out, in the caller's transaction.

Every way an event enters Renkei (tracking API, inbound webhooks, publishing, polling
syncs) ends here, so "stored" and "its deliveries and flow runs exist" always commit
together.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import Event
from renkei.store.inline_sqlite import InlineConnection
from renkei.store.tables import events as events_table

if TYPE_CHECKING:
    from renkei.core import Core

_CHUNK = 1000
_INSERT_RETURNING = pg_insert(events_table).on_conflict_do_nothing().returning(events_table.c.id)
_SQLITE_CHUNK = 500  # x 10 parameters, well under SQLite's 32,766
# From this many events a group is looked up, and inserted beside the event loop at the end.
_OFFLOAD_FROM = 64
_Item = TypeVar("_Item")


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


SqliteRow = tuple[Any, ...]
"""One event's parameters for the SQLite insert (:func:`sqlite_row`)."""


@dataclass(slots=True)
class Admitted:
    """What :func:`admit_events` found new and fanned out, for :func:`write_admitted`."""

    events: list[Event]
    written: bool
    """Inserted already (PostgreSQL, and small groups on SQLite)."""
    rows: Mapping[str, SqliteRow]


async def record_events(
    hub: Core, connection: AsyncConnection, events: Sequence[Event]
) -> list[Event]:
    """Store ``events`` and fan out the new ones; returns the new ones.

    An event whose id is already stored (a retried request, a duplicate ``messageId``)
    is dropped silently: that is the dedupe guarantee.
    """
    admitted = await admit_events(hub, connection, events)
    await write_admitted(connection, admitted)
    return admitted.events


async def admit_events(
    hub: Core,
    connection: AsyncConnection,
    events: Sequence[Event],
    *,
    rows: Mapping[str, SqliteRow] | None = None,
) -> Admitted:
    """The first half of :func:`record_events`: find the new events and fan them out.

    The caller passes the result to :func:`write_admitted` in the same transaction.
    PostgreSQL must insert to know which events are new (other nodes insert concurrently),
    and so does a small group on SQLite (one inline statement). A big group on SQLite
    holds the one write lock, so a lookup tells; its insert waits for
    :func:`write_admitted` at the end of the transaction, where it runs beside the event
    loop, together with the commit. ``rows``: SQLite rows made earlier with
    :func:`sqlite_row`, by event id (the others are made when needed).
    """
    rows = rows or {}
    if not hub.database.is_sqlite:
        fresh, written = await _insert_returning(connection, events), True
    elif len(events) < _OFFLOAD_FROM:
        fresh, written = await _insert_sqlite_inline(connection, events, rows), True
    else:
        fresh, written = await _unseen_sqlite(connection, events), False
    if fresh:
        await hub.fan_out(connection, fresh)
    return Admitted(fresh, written, rows)


async def write_admitted(
    connection: AsyncConnection, admitted: Admitted, *, and_commit: bool = False
) -> None:
    """The second half of :func:`record_events`: insert what is not written yet.
    ``and_commit``: when that insert runs beside the event loop, commit the transaction in
    the same call (the transaction's own commit then finds nothing to do); nothing may
    follow in the transaction."""
    if admitted.written or not admitted.events:
        return
    driver = await _sqlite_writer(connection)
    statements = [
        (_sqlite_insert(len(chunk)), _parameters(chunk, admitted.rows))
        for chunk in _chunks(admitted.events)
    ]
    await driver.execute_many_then(statements, commit=and_commit)


def sqlite_row(event: Event) -> SqliteRow:
    """The event as one row of the SQLite insert, in the storage format SQLAlchemy uses
    (JSON text, naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``). Ingest makes rows while it reads
    requests, out of the commit's way; ``event`` must not change afterwards."""
    return (
        event.id,
        event.type,
        event.name,
        event.source_id,
        event.user_id,
        event.anonymous_id,
        event.email,
        orjson.dumps(event.data).decode(),
        _storage_time(event.occurred_at),
        _storage_time(event.received_at),
    )


@functools.lru_cache(maxsize=4096)
def _storage_time(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


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


# SQLite: statements go straight to the driver, one call instead of SQLAlchemy's four
# (cursor, execute, fetch, close); this is the hot path of ingest.


async def _sqlite_writer(connection: AsyncConnection) -> InlineConnection:
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, InlineConnection), "SQLite writes go through the write engine"
    return driver


def _chunks(items: Sequence[_Item]) -> list[Sequence[_Item]]:
    return [items[start : start + _SQLITE_CHUNK] for start in range(0, len(items), _SQLITE_CHUNK)]


def _parameters(events: Sequence[Event], rows: Mapping[str, SqliteRow]) -> list[Any]:
    parameters: list[Any] = []
    for event in events:
        row = rows.get(event.id)
        parameters += sqlite_row(event) if row is None else row
    return parameters


async def _insert_sqlite_inline(
    connection: AsyncConnection, events: Sequence[Event], rows: Mapping[str, SqliteRow]
) -> list[Event]:
    """``INSERT ... ON CONFLICT DO NOTHING``: its row count says whether every event was
    new. Under the write lock the rows of one statement get consecutive ``seq`` values
    ending at the last inserted rowid, so when some were duplicates the new ones are read
    back by ``seq`` (``RETURNING`` would cost every insert, for the rare request that
    repeats a ``messageId``)."""
    driver = await _sqlite_writer(connection)
    fresh: list[Event] = []
    for chunk in _chunks(events):
        statement = _sqlite_insert(len(chunk)) + " ON CONFLICT DO NOTHING"
        inserted, last_seq = driver.insert(statement, _parameters(chunk, rows))
        if inserted == len(chunk):
            fresh += chunk
        elif inserted > 0:
            new = await driver.execute_fetchall(
                "SELECT id FROM events WHERE seq > ? AND seq <= ?",
                (last_seq - inserted, last_seq),
            )
            fresh += _dedupe(chunk, {row[0] for row in new})
    return fresh


async def _unseen_sqlite(connection: AsyncConnection, events: Sequence[Event]) -> list[Event]:
    """The events whose ids are not stored yet, each id once (its first copy)."""
    driver = await _sqlite_writer(connection)
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    for chunk in _chunks(list(unique)):
        for (stored,) in await driver.execute_fetchall(_sqlite_lookup(len(chunk)), chunk):
            del unique[stored]
    return list(unique.values())


_SQLITE_INSERT_HEAD = (
    "INSERT INTO events (id, type, name, source_id, user_id, anonymous_id, email, data,"
    " occurred_at, received_at) VALUES "
)


@functools.lru_cache(maxsize=64)
def _sqlite_insert(count: int) -> str:
    return _SQLITE_INSERT_HEAD + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)


@functools.lru_cache(maxsize=64)
def _sqlite_lookup(count: int) -> str:
    return "".join(("SELECT id FROM events WHERE id IN (", ", ".join(["?"] * count), ")"))
