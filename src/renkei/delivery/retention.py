"""Expiry of deliveries and their attempts (``RENKEI_RETENTION_DELIVERIES_DAYS``), and what
becomes of a delivery whose event expired first.

A finished delivery (succeeded, exhausted, cancelled) outlives its event until its own
retention: it shows ``expired: true`` and cannot be resent (410). One still open
(pending, failed, held) when its event expires can never be sent: it is cancelled in the
transaction that deletes the event, with the reason in ``last_error``. Open deliveries are
never deleted by age: they are cancelled with their event, then age like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store import partitions
from renkei.store.tables.core import events
from renkei.store.tables.webhooks import OPEN_STATUSES, deliveries, delivery_attempts

__all__ = [
    "EXPIRED_REASON",
    "attempts_partition_in_use",
    "cancel_for_events_in",
    "cancel_for_expired_events",
    "partition_has_open",
    "prune_deliveries",
    "prune_test_attempts",
]

EXPIRED_REASON = "event expired (RENKEI_RETENTION_EVENTS_DAYS) before it was delivered"


async def cancel_for_expired_events(
    tx: AsyncConnection, event_ids: Sequence[str], now: datetime
) -> int:
    """Cancel the open deliveries of events being deleted; returns how many."""
    if not event_ids:
        return 0
    done = await tx.execute(
        update(deliveries)
        .where(deliveries.c.event_id.in_(list(event_ids)), deliveries.c.status.in_(OPEN_STATUSES))
        .values(status="cancelled", next_attempt_at=None, last_error=EXPIRED_REASON, updated_at=now)
    )
    return int(done.rowcount)


async def cancel_for_events_in(
    tx: AsyncConnection, partition: partitions.Partition, now: datetime
) -> int:
    """Cancel the open deliveries of the events of a partition of ``events`` being dropped."""
    gone = partitions.of(partition, events)
    done = await tx.execute(
        update(deliveries)
        .where(
            deliveries.c.status.in_(OPEN_STATUSES),
            deliveries.c.event_id.in_(select(gone.c.id).scalar_subquery()),
        )
        .values(status="cancelled", next_attempt_at=None, last_error=EXPIRED_REASON, updated_at=now)
    )
    return int(done.rowcount)


async def partition_has_open(connection: AsyncConnection, partition: partitions.Partition) -> bool:
    """Whether a partition of ``deliveries`` holds an open delivery (never deleted by age:
    the partition stays, and its finished deliveries go by batched deletes)."""
    rows = partitions.of(partition, deliveries)
    found = await connection.execute(
        select(rows.c.seq).where(rows.c.status.in_(OPEN_STATUSES)).limit(1)
    )
    return found.first() is not None


async def attempts_partition_in_use(
    connection: AsyncConnection, partition: partitions.Partition
) -> bool:
    """Whether a partition of ``delivery_attempts`` holds an attempt of an open delivery
    (its history stays with it): read from the few open deliveries, through
    ``ix_deliveries_lane_open``, each looked up in the partition by delivery id."""
    rows = partitions.of(partition, delivery_attempts)
    found = await connection.execute(
        select(deliveries.c.seq)
        .where(
            deliveries.c.status.in_(OPEN_STATUSES),
            exists().where(rows.c.delivery_id == deliveries.c.id),
        )
        .limit(1)
    )
    return found.first() is not None


async def prune_deliveries(
    tx: AsyncConnection, *, before: datetime, after_seq: int, limit: int
) -> tuple[int, int | None]:
    """Delete up to ``limit`` finished deliveries created before ``before`` (from
    ``after_seq``) with their attempts; returns (deliveries deleted, last seq looked at)."""
    rows = (
        await tx.execute(
            select(deliveries.c.seq, deliveries.c.id)
            .where(
                deliveries.c.created_at < before,
                deliveries.c.seq > after_seq,
                deliveries.c.status.not_in(OPEN_STATUSES),
            )
            .order_by(deliveries.c.seq)
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0, None
    await tx.execute(
        delete(delivery_attempts).where(delivery_attempts.c.delivery_id.in_([r.id for r in rows]))
    )
    await tx.execute(delete(deliveries).where(deliveries.c.seq.in_([r.seq for r in rows])))
    return len(rows), int(rows[-1].seq)


async def prune_test_attempts(tx: AsyncConnection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` attempts of test sends (no delivery) started before ``before``."""
    ids = (
        await tx.execute(
            select(delivery_attempts.c.id)
            .where(delivery_attempts.c.delivery_id.is_(None))
            .where(delivery_attempts.c.started_at < before)
            .limit(limit)
        )
    ).scalars()
    chosen = list(ids)
    if chosen:
        await tx.execute(delete(delivery_attempts).where(delivery_attempts.c.id.in_(chosen)))
    return len(chosen)
