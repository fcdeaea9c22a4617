"""Deliveries of a forgotten person's events: open ones cancelled, then every delivery and
attempt of those events removed (attempts keep the receiver's answers, which may quote the
person), and the FIFO lanes named after the person's identities once empty."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.webhooks import (
    OPEN_STATUSES,
    deliveries,
    delivery_attempts,
    delivery_lanes,
)

__all__ = ["forget_deliveries"]

_BULK = 500


async def forget_deliveries(
    connection: AsyncConnection, event_ids: Sequence[str], lanes: Sequence[str] = ()
) -> dict[str, int]:
    """Remove the deliveries and attempts of ``event_ids``; a pending send job finds its
    delivery gone and does nothing. Returns ``{"cancelled", "deliveries", "attempts"}``."""
    counts = {"cancelled": 0, "deliveries": 0, "attempts": 0}
    for start in range(0, len(event_ids), _BULK):
        chunk = list(event_ids[start : start + _BULK])
        counts["cancelled"] += int(
            (
                await connection.execute(
                    select(func.count())
                    .select_from(deliveries)
                    .where(deliveries.c.event_id.in_(chunk), deliveries.c.status.in_(OPEN_STATUSES))
                )
            ).scalar()
            or 0
        )
        attempts = await connection.execute(
            delete(delivery_attempts).where(delivery_attempts.c.event_id.in_(chunk))
        )
        counts["attempts"] += int(attempts.rowcount or 0)
        removed = await connection.execute(
            delete(deliveries).where(deliveries.c.event_id.in_(chunk))
        )
        counts["deliveries"] += int(removed.rowcount or 0)
    for start in range(0, len(lanes), _BULK):
        chunk = list(lanes[start : start + _BULK])
        still_open = exists().where(
            and_(
                deliveries.c.endpoint_id == delivery_lanes.c.endpoint_id,
                deliveries.c.lane == delivery_lanes.c.lane,
                deliveries.c.status.in_(OPEN_STATUSES),
            )
        )
        await connection.execute(
            delete(delivery_lanes).where(delivery_lanes.c.lane.in_(chunk), ~still_open)
        )
    return counts
