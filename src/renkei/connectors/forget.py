"""Connector records that carry a forgotten person (a queued upsert holds their email and
traits): removed whatever their state, so nothing still queued sends them and nothing
finished keeps them. A batch job finds its records gone and sends the rest."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.json_search import holds_string
from renkei.store.tables.connectors import connector_records

__all__ = ["forget_records"]

_CHUNK = 50


async def forget_records(connection: AsyncConnection, values: Sequence[str]) -> dict[str, int]:
    """Returns ``{"cancelled", "records"}`` (cancelled: those not sent yet)."""
    cancelled = removed = 0
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        holds = or_(
            *(holds_string(connector_records.c.payload, v) for v in chunk),
            *(holds_string(connector_records.c.data, v) for v in chunk),
        )
        cancelled += int(
            (
                await connection.execute(
                    select(func.count())
                    .select_from(connector_records)
                    .where(holds, connector_records.c.status.in_(("pending", "running")))
                )
            ).scalar()
            or 0
        )
        outcome = await connection.execute(delete(connector_records).where(holds))
        removed += int(outcome.rowcount or 0)
    return {"cancelled": cancelled, "records": removed}
