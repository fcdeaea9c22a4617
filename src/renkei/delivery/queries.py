"""Read models for deliveries and attempts (API answers, event detail, CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.problems import NotFoundProblem
from renkei.security.redaction import redact_headers
from renkei.store.tables.core import events
from renkei.store.tables.webhooks import deliveries, delivery_attempts

__all__ = [
    "attempt_out",
    "deliveries_of_event",
    "delivery_out",
    "event_stored",
    "get_delivery",
    "list_attempts",
    "list_deliveries",
]


def _deliveries() -> Select[Any]:
    """Deliveries with ``expired``: their event is no longer stored (retention), as Svix
    marks a message whose payload expired. The event is found by its unique id."""
    return select(deliveries, events.c.seq.is_(None).label("expired")).select_from(
        deliveries.outerjoin(events, events.c.id == deliveries.c.event_id)
    )


async def event_stored(connection: AsyncConnection, event_id: str) -> bool:
    """Whether the event is still stored (not expired)."""
    found = await connection.execute(select(events.c.seq).where(events.c.id == event_id))
    return found.first() is not None


def delivery_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": row.event_id,
        "endpoint_id": row.endpoint_id,
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_attempt_at": row.last_attempt_at,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "expired": bool(row.expired),
    }


def attempt_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "delivery_id": row.delivery_id,
        "endpoint_id": row.endpoint_id,
        "event_id": row.event_id,
        "attempt": row.attempt,
        "trigger": row.trigger,
        "started_at": row.started_at,
        "url": row.url,
        # Redacted again on the way out: rows written before every configured header's
        # value was redacted at the source still hold them.
        "request_headers": redact_headers(row.request_headers or {}),
        "status_code": row.status_code,
        "response_headers": row.response_headers,
        "response_body": row.response_body,
        "duration_ms": row.duration_ms,
        "error": row.error,
        "success": row.success,
    }


async def deliveries_of_event(connection: AsyncConnection, event_id: str) -> list[dict[str, Any]]:
    rows = await connection.execute(
        _deliveries().where(deliveries.c.event_id == event_id).order_by(deliveries.c.seq)
    )
    return [delivery_out(row) for row in rows]


async def list_deliveries(
    connection: AsyncConnection,
    *,
    limit: int,
    before_seq: int | None = None,
    endpoint_id: str | None = None,
    status: str | None = None,
    event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Newest first, as (seq, delivery) pairs so the caller can build a cursor."""
    query = _deliveries().order_by(deliveries.c.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(deliveries.c.seq < before_seq)
    if endpoint_id is not None:
        query = query.where(deliveries.c.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(deliveries.c.status == status)
    if event_id is not None:
        query = query.where(deliveries.c.event_id == event_id)
    if since is not None:
        query = query.where(deliveries.c.created_at >= since)
    if until is not None:
        query = query.where(deliveries.c.created_at < until)
    return [(row.seq, delivery_out(row)) for row in await connection.execute(query)]


async def get_delivery(connection: AsyncConnection, delivery_id: str) -> dict[str, Any]:
    row = (await connection.execute(_deliveries().where(deliveries.c.id == delivery_id))).first()
    if row is None:
        raise NotFoundProblem("delivery", delivery_id)
    out = delivery_out(row)
    out["attempt_history"] = await list_attempts(connection, delivery_id=delivery_id, limit=100)
    return out


async def list_attempts(
    connection: AsyncConnection,
    *,
    limit: int,
    delivery_id: str | None = None,
    endpoint_id: str | None = None,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first."""
    query = attempts_query(
        limit=limit, delivery_id=delivery_id, endpoint_id=endpoint_id, before_id=before_id
    )
    return [attempt_out(row) for row in await connection.execute(query)]


def attempts_query(
    *,
    limit: int,
    delivery_id: str | None = None,
    endpoint_id: str | None = None,
    before_id: int | None = None,
) -> Select[Any]:
    """An endpoint's attempts are read through ``ix_delivery_attempts_endpoint_id`` in id
    order: a page costs its rows, not a sort of every attempt the endpoint ever had."""
    query = select(delivery_attempts).order_by(delivery_attempts.c.id.desc()).limit(limit)
    if delivery_id is not None:
        query = query.where(delivery_attempts.c.delivery_id == delivery_id)
    if endpoint_id is not None:
        query = query.where(delivery_attempts.c.endpoint_id == endpoint_id)
    if before_id is not None:
        query = query.where(delivery_attempts.c.id < before_id)
    return query
