"""Storing events, the hot path of ingest, the fastest way each backend allows.

An event whose id is stored already is dropped (the dedupe guarantee), and the caller
learns which events were new, to fan out only those:

- PostgreSQL must insert to know (other nodes insert concurrently): ``INSERT ... ON
  CONFLICT DO NOTHING RETURNING id``, one statement object compiled once, executed with
  many parameter sets (SQLAlchemy batches them into multi-row INSERTs).
- SQLite has one writer, so a lookup tells, and statements go straight to the driver of
  the inline write connection (``store/inline_sqlite.py``): one call instead of
  SQLAlchemy's four. A small group is inserted at once; a big one is looked up, and its
  insert waits for :meth:`EventWrites.write`, at the end of the transaction, where it runs
  beside the event loop together with the commit.

Rows are in the storage format SQLAlchemy uses (JSON text, naive UTC
``YYYY-MM-DD HH:MM:SS.ffffff``), made by :meth:`EventWrites.row`; ingest makes them while
it reads requests, out of the commit's way, where :attr:`EventWrites.prepares_rows` says
that pays.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.chunks import few_sized_chunks
from renkei.store.database import Database
from renkei.store.direct import inline_driver
from renkei.store.tables import events as events_table

__all__ = ["EventWrites", "PreparedRow", "StorableEvent", "event_writes"]


class StorableEvent(Protocol):
    """The fields of an event that the ``events`` table stores (``renkei.events.Event``)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def source_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def anonymous_id(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def data(self) -> Any: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def received_at(self) -> datetime: ...


PreparedRow = tuple[Any, ...]
"""One event as a row in the storage format (:meth:`EventWrites.row`)."""

_Event = TypeVar("_Event", bound=StorableEvent)


class EventWrites:
    """PostgreSQL's way; :class:`_SingleWriterEventWrites` is SQLite's."""

    prepares_rows = False
    """Whether rows made ahead (:meth:`row`) spare the transaction some work."""

    _INSERT_RETURNING = (
        pg_insert(events_table).on_conflict_do_nothing().returning(events_table.c.id)
    )

    def row(self, event: StorableEvent) -> PreparedRow:
        """The event as a row in the storage format; ``event`` must not change afterwards."""
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

    async def admit(
        self,
        connection: AsyncConnection,
        events: Sequence[_Event],
        rows: Mapping[str, PreparedRow],
    ) -> tuple[list[_Event], bool]:
        """The new events (each id once, its first copy), and whether they are written
        already; if not, :meth:`write` them later in the same transaction. ``rows``: rows
        made earlier by :meth:`row`, by event id (the others are made when needed)."""
        fresh: list[_Event] = []
        for chunk in few_sized_chunks(events):
            result = await connection.execute(
                self._INSERT_RETURNING, [_values(event) for event in chunk]
            )
            fresh += _dedupe(chunk, set(result.scalars()))
        return fresh, True

    async def write(
        self,
        connection: AsyncConnection,
        events: Sequence[StorableEvent],
        rows: Mapping[str, PreparedRow],
        *,
        and_commit: bool,
    ) -> None:
        """Insert the events :meth:`admit` left unwritten. ``and_commit``: commit the
        transaction in the same call, beside the event loop (its own commit then finds
        nothing to do); nothing may follow in the transaction."""
        raise AssertionError("every admitted event is written already")


class _SingleWriterEventWrites(EventWrites):
    """SQLite: see the module's docstring."""

    prepares_rows = True
    # From this many events a group is looked up, and inserted beside the event loop at the end.
    _OFFLOAD_FROM = 64

    async def admit(
        self,
        connection: AsyncConnection,
        events: Sequence[_Event],
        rows: Mapping[str, PreparedRow],
    ) -> tuple[list[_Event], bool]:
        if len(events) < self._OFFLOAD_FROM:
            return await self._insert_inline(connection, events, rows), True
        return await self._unseen(connection, events), False

    async def write(
        self,
        connection: AsyncConnection,
        events: Sequence[StorableEvent],
        rows: Mapping[str, PreparedRow],
        *,
        and_commit: bool,
    ) -> None:
        driver = await inline_driver(connection)
        statements = [
            (_insert_sql(len(chunk)), self._parameters(chunk, rows))
            for chunk in few_sized_chunks(events)
        ]
        await driver.execute_many_then(statements, commit=and_commit)

    async def _insert_inline(
        self,
        connection: AsyncConnection,
        events: Sequence[_Event],
        rows: Mapping[str, PreparedRow],
    ) -> list[_Event]:
        """``INSERT ... ON CONFLICT DO NOTHING``: its row count says whether every event
        was new. Under the write lock the rows of one statement get consecutive ``seq``
        values ending at the last inserted rowid, so when some were duplicates the new ones
        are read back by ``seq`` (``RETURNING`` would cost every insert, for the rare
        request that repeats a ``messageId``)."""
        driver = await inline_driver(connection)
        fresh: list[_Event] = []
        for chunk in few_sized_chunks(events):
            statement = _insert_sql(len(chunk)) + " ON CONFLICT DO NOTHING"
            inserted, last_seq = driver.insert(statement, self._parameters(chunk, rows))
            if inserted == len(chunk):
                fresh += chunk
            elif inserted > 0:
                new = await driver.execute_fetchall(
                    "SELECT id FROM events WHERE seq > ? AND seq <= ?",
                    (last_seq - inserted, last_seq),
                )
                fresh += _dedupe(chunk, {row[0] for row in new})
        return fresh

    async def _unseen(self, connection: AsyncConnection, events: Sequence[_Event]) -> list[_Event]:
        """The events whose ids are not stored yet, each id once (its first copy)."""
        driver = await inline_driver(connection)
        unique: dict[str, _Event] = {}
        for event in events:
            unique.setdefault(event.id, event)
        for chunk in few_sized_chunks(list(unique)):
            for (stored,) in await driver.execute_fetchall(_lookup_sql(len(chunk)), chunk):
                del unique[stored]
        return list(unique.values())

    def _parameters(
        self, events: Sequence[StorableEvent], rows: Mapping[str, PreparedRow]
    ) -> list[Any]:
        parameters: list[Any] = []
        for event in events:
            row = rows.get(event.id)
            parameters += self.row(event) if row is None else row
        return parameters


_WRITES = {"postgresql": EventWrites(), "sqlite": _SingleWriterEventWrites()}


def event_writes(database: Database) -> EventWrites:
    """How events are stored in ``database``."""
    return _WRITES[database.dialect]


def _values(event: StorableEvent) -> dict[str, Any]:
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


@functools.lru_cache(maxsize=4096)
def _storage_time(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _dedupe(events: Sequence[_Event], inserted: set[str]) -> list[_Event]:
    fresh: list[_Event] = []
    for event in events:
        if event.id in inserted:
            inserted.discard(event.id)  # a second copy in the same call is a duplicate
            fresh.append(event)
    return fresh


_INSERT_HEAD = (
    "INSERT INTO events (id, type, name, source_id, user_id, anonymous_id, email, data,"
    " occurred_at, received_at) VALUES "
)


@functools.lru_cache(maxsize=64)
def _insert_sql(count: int) -> str:
    return _INSERT_HEAD + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)


@functools.lru_cache(maxsize=64)
def _lookup_sql(count: int) -> str:
    return "".join(("SELECT id FROM events WHERE id IN (", ", ".join(["?"] * count), ")"))
