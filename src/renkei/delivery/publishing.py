"""Publishing: ``POST /api/v1/events`` and ``renkei events publish``.

The event and its deliveries are stored in one transaction (the fan-out handler runs
inside :func:`record_events`). Without an ``Idempotency-Key`` that transaction is shared
with concurrent publishes and ingest requests (the ingest group committer), and the
request is answered after it commits. With a key, the answer is stored in the request's
own transaction, so a retried request within 24 h gets the same answer and publishes
nothing; the same key with a different body is a conflict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.event_types import validate_payload
from renkei.delivery.fanout import CREATED_BY_EVENT
from renkei.delivery.problems import (
    ConflictProblem,
    InvalidProblem,
    UnavailableProblem,
    WebhookProblem,
)
from renkei.events.envelope import Event, format_timestamp, json_size
from renkei.events.errors import IngestError, TooDeep
from renkei.events.ingest import Overloaded, StorageUnavailable, check_backlog
from renkei.events.log import record_events
from renkei.ids import new_id
from renkei.store.statements import insert_ignoring
from renkei.store.tables.webhooks import deliveries, idempotency_keys

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks

__all__ = ["IDEMPOTENCY_WINDOW", "Published", "publish"]

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_ID_LENGTH = 255


@dataclass(frozen=True)
class Published:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def _request_hash(event_type: str, data: Any, event_id: str | None) -> str:
    canonical = orjson.dumps(
        {"type": event_type, "data": data, "id": event_id}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def check_event_type_name(event_type: Any) -> None:
    """What publishing (and a test send) requires of a type: registered or not."""
    if not isinstance(event_type, str) or not event_type.strip() or len(event_type) > 200:
        raise InvalidProblem(
            "type must be a non-empty name of at most 200 characters", details={"path": "type"}
        )


def _check(event_type: Any, event_id: Any, data: Any) -> None:
    check_event_type_name(event_type)
    if not isinstance(data, dict):
        # Readers promise an object; a list or a string stored here broke the event log.
        raise InvalidProblem("data: must be a JSON object", details={"path": "data"})
    if event_id is not None and (
        not isinstance(event_id, str) or not event_id or len(event_id) > MAX_ID_LENGTH
    ):
        raise InvalidProblem(
            f"id must be a non-empty string of at most {MAX_ID_LENGTH} characters",
            details={"path": "id"},
        )


async def publish(
    webhooks: Webhooks,
    *,
    event_type: str,
    data: Any,
    event_id: str | None = None,
    idempotency_key: str | None = None,
    source_id: str = "api",
) -> Published:
    _check(event_type, event_id, data)
    try:
        json_size(data)  # what nests deeper than MAX_DEPTH could not be delivered
    except TooDeep as exc:
        raise WebhookProblem(
            exc.message, code=exc.code, details={"path": "data", **exc.details}
        ) from None
    if idempotency_key is None:
        return await _publish_in_group(webhooks, event_type, data, event_id, source_id)
    hub = webhooks.hub
    request_hash = _request_hash(event_type, data, event_id)
    try:
        check_backlog(hub)
    except Overloaded as exc:
        raise UnavailableProblem(str(exc), code="overloaded", retry_after=exc.retry_after) from exc
    async with hub.database.transaction() as tx:
        snapshot = await webhooks.catalog.get(tx)
        validate_payload(snapshot.validators.get(event_type), event_type, data)
        now = hub.clock.now()
        if idempotency_key is not None:
            replay = await _claim_key(webhooks, tx, idempotency_key, request_hash, now)
            if replay is not None:
                return replay
        event = _event(event_type, data, event_id, source_id, now)
        fresh = await record_events(hub, tx, [event])
        if fresh:
            body = _answer(event, tx.info.get(CREATED_BY_EVENT, {}).get(event.id, 0))
            status = 201
        else:
            body = await _existing(tx, event.id)
            status = 200
        if idempotency_key is not None:
            await tx.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key == idempotency_key)
                .values(status_code=status, response=body)
            )
    return Published(status, body)


async def _publish_in_group(
    webhooks: Webhooks, event_type: str, data: Any, event_id: str | None, source_id: str
) -> Published:
    hub = webhooks.hub
    snapshot = await webhooks.catalog.get()
    validate_payload(snapshot.validators.get(event_type), event_type, data)
    event = _event(event_type, data, event_id, source_id, hub.clock.now())
    created = 0

    async def count_deliveries(tx: AsyncConnection, _: frozenset[str]) -> None:
        nonlocal created
        created = tx.info.get(CREATED_BY_EVENT, {}).get(event.id, 0)

    try:
        fresh = await webhooks.ingest.store([event], count_deliveries)
    except Overloaded as exc:
        raise UnavailableProblem(str(exc), code="overloaded", retry_after=exc.retry_after) from exc
    except StorageUnavailable as exc:
        raise UnavailableProblem(
            "the database is unreachable; try again shortly",
            code="database_unavailable",
            retry_after=5,
        ) from exc
    except IngestError as exc:
        raise InvalidProblem(exc.message, code=exc.code, details=exc.details) from exc
    if fresh:
        return Published(201, _answer(event, created))
    async with hub.database.read() as connection:
        return Published(200, await _existing(connection, event.id))


def _event(
    event_type: str, data: Any, event_id: str | None, source_id: str, now: datetime
) -> Event:
    return Event(
        id=event_id or new_id("evt"),
        type=event_type,
        name=None,
        data=data,
        occurred_at=now,
        received_at=now,
        source_id=source_id,
    )


async def _claim_key(
    webhooks: Webhooks, tx: AsyncConnection, key: str, request_hash: str, now: datetime
) -> Published | None:
    """Take the key first: a concurrent request with the same key waits on it, then replays."""
    for _ in range(2):
        claimed = await tx.execute(
            insert_ignoring(webhooks.hub.database, idempotency_keys).values(
                key=key, request_hash=request_hash, status_code=0, response={}, created_at=now
            )
        )
        if claimed.rowcount:
            return None
        row = (
            await tx.execute(select(idempotency_keys).where(idempotency_keys.c.key == key))
        ).first()
        if row is None:
            continue
        if row.created_at <= now - IDEMPOTENCY_WINDOW:
            await tx.execute(delete(idempotency_keys).where(idempotency_keys.c.key == key))
            continue
        if row.request_hash != request_hash:
            raise ConflictProblem(
                "this Idempotency-Key was used with a different request",
                code="idempotency_key_reused",
            )
        return Published(row.status_code, row.response, replayed=True)
    raise ConflictProblem("this Idempotency-Key is being used by another request right now")


def _answer(event: Event, count: int) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "data": event.data,
        "timestamp": format_timestamp(event.occurred_at),
        "deliveries": count,
    }


async def _count(tx: AsyncConnection, event_id: str) -> int:
    counted = await tx.execute(
        select(func.count()).select_from(deliveries).where(deliveries.c.event_id == event_id)
    )
    return int(counted.scalar() or 0)


async def _existing(tx: AsyncConnection, event_id: str) -> dict[str, Any]:
    from renkei.store.tables.core import events as events_table

    row = (
        await tx.execute(
            select(
                events_table.c.id,
                events_table.c.type,
                events_table.c.data,
                events_table.c.occurred_at,
            ).where(events_table.c.id == event_id)
        )
    ).first()
    assert row is not None
    return {
        "id": row.id,
        "type": row.type,
        "data": row.data,
        "timestamp": format_timestamp(row.occurred_at),
        "deliveries": await _count(tx, event_id),
    }
