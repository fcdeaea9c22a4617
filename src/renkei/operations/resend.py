"""``deliveries.resend``: send again the deliveries a filter picks, across endpoints.

An item is a delivery: reopened (pending again, a fresh set of attempts) in the batch's
transaction with the operation's cursor, so a resend never sends one twice. A delivery of a
disabled or deleted endpoint is counted failed: resume the endpoint first; so is one whose
event expired (retention), which has nothing left to send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.operations.batch import Batch, window
from renkei.store.tables.core import events
from renkei.store.tables.webhooks import deliveries, endpoints

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks

__all__ = ["DEFAULT_STATUSES", "KIND", "batch", "count"]

KIND = "deliveries.resend"
DEFAULT_STATUSES = ("failed", "exhausted")


def _where(filter: dict[str, Any]) -> list[ColumnElement[bool]]:
    clauses = [deliveries.c.status.in_(filter.get("status") or DEFAULT_STATUSES)]
    if filter.get("endpoint_id"):
        clauses.append(deliveries.c.endpoint_id == filter["endpoint_id"])
    if filter.get("event_type"):
        clauses.append(deliveries.c.event_type == filter["event_type"])
    return clauses + window(deliveries.c.created_at, filter)


async def count(connection: AsyncConnection, filter: dict[str, Any]) -> int:
    query = select(func.count()).select_from(deliveries).where(*_where(filter))
    return int((await connection.execute(query)).scalar() or 0)


async def batch(
    webhooks: Webhooks, tx: AsyncConnection, filter: dict[str, Any], cursor: Any, size: int
) -> Batch:
    rows = (
        await tx.execute(
            select(
                deliveries.c.seq,
                deliveries.c.id,
                deliveries.c.lane,
                deliveries.c.endpoint_id,
                events.c.seq.is_(None).label("expired"),
            )
            .select_from(deliveries.outerjoin(events, events.c.id == deliveries.c.event_id))
            .where(*_where(filter), deliveries.c.seq > int(cursor or 0))
            .order_by(deliveries.c.seq)
            .limit(size)
        )
    ).all()
    if not rows:
        return Batch(None)
    by_endpoint: dict[str, list[tuple[str, str | None]]] = {}
    expired = 0
    for row in rows:
        if row.expired:  # nothing left to send (retention): reopened it would wait forever
            expired += 1
            continue
        by_endpoint.setdefault(row.endpoint_id, []).append((row.id, row.lane))
    usable = set(
        (
            await tx.execute(
                select(endpoints.c.id).where(
                    endpoints.c.id.in_(list(by_endpoint)),
                    endpoints.c.deleted_at.is_(None),
                    endpoints.c.disabled.is_(False),
                )
            )
        ).scalars()
    )
    sent, failed = 0, expired
    for endpoint_id, pairs in by_endpoint.items():
        if endpoint_id not in usable:
            failed += len(pairs)
            continue
        sent += await webhooks.reopen(tx, pairs, endpoint_id)
    return Batch(rows[-1].seq, done=len(rows), skipped=len(rows) - sent - failed, failed=failed)
