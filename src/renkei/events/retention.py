"""Expiry of the event log (``RENKEI_RETENTION_EVENTS_DAYS``): one bounded batch at a time.

The caller (``renkei.operations.retention``) runs batches in their own transactions and
settles what referred to the events (open deliveries) in the same transaction as the
delete, so nothing waits on an event that no longer exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, TableClause, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store import partitions
from renkei.store.tables.core import events

__all__ = ["Expired", "expire_events", "first_seq_at", "partition_holds"]


@dataclass(frozen=True)
class Expired:
    """One batch: the deleted events' ids and the last ``seq`` looked at (the cursor)."""

    ids: list[str]
    last_seq: int | None


def _of_types(names: Sequence[str], rows: TableClause = events) -> ColumnElement[bool]:
    """An event "of type" ``name``: its type is the name (``order.paid``, ``page``), or it is
    a ``track`` of that event name (``Order Completed``), as the tracking plan names them."""
    return or_(
        rows.c.type.in_(list(names)),
        and_(rows.c.type == "track", rows.c.name.in_(list(names))),
    )


async def partition_holds(
    connection: AsyncConnection, partition: partitions.Partition, types: Sequence[str]
) -> bool:
    """Whether a partition of ``events`` holds an event of one of ``types`` (kept longer
    than the partition's other events: the partition cannot be dropped yet)."""
    rows = partitions.of(partition, events)
    found = await connection.execute(select(rows.c.seq).where(_of_types(types, rows)).limit(1))
    return found.first() is not None


def _not_of_types(names: Sequence[str]) -> ColumnElement[bool]:
    # Spelt out rather than not_(_of_types(...)): a NULL name must not hide the event.
    return and_(
        events.c.type.not_in(list(names)),
        or_(events.c.type != "track", events.c.name.is_(None), events.c.name.not_in(list(names))),
    )


async def first_seq_at(connection: AsyncConnection, moment: datetime) -> int | None:
    """The ``seq`` of the first event received at or after ``moment`` (None: none was).

    ``seq`` grows with ``received_at`` (up to a commit's few seconds), so every event
    older than ``moment`` lies below it: a batch reads a key range instead of a time
    range filtered by type (``ix_events_type_seq`` serves a type's rule)."""
    found = await connection.execute(
        select(events.c.seq)
        .where(events.c.received_at >= moment)
        .order_by(events.c.received_at)
        .limit(1)
    )
    return found.scalar()


async def expire_events(
    tx: AsyncConnection,
    *,
    before: datetime,
    below_seq: int | None,
    after_seq: int,
    limit: int,
    only_types: Sequence[str] = (),
    skip_types: Sequence[str] = (),
) -> Expired:
    """Delete up to ``limit`` events received before ``before`` (of ``only_types`` when
    given, of none of ``skip_types``), oldest first from ``after_seq``."""
    query = (
        select(events.c.seq, events.c.id)
        .where(events.c.received_at < before, events.c.seq > after_seq)
        .order_by(events.c.seq)
        .limit(limit)
    )
    if below_seq is not None:
        query = query.where(events.c.seq < below_seq)
    if only_types:
        query = query.where(_of_types(only_types))
    if skip_types:
        query = query.where(_not_of_types(skip_types))
    rows = (await tx.execute(query)).all()
    if not rows:
        return Expired([], None)
    await tx.execute(delete(events).where(events.c.seq.in_([row.seq for row in rows])))
    return Expired([str(row.id) for row in rows], int(rows[-1].seq))
