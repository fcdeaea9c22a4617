"""Sending one delivery: sign, send, classify, record, and say when to try again.

The delivery row keeps its own bookkeeping (attempts, status, next attempt); the job
queue only schedules. A task therefore ends in one of three ways: the delivery is
finished (succeeded, exhausted, held, cancelled) and the job completes; the delivery
must wait (retry schedule, ``Retry-After``, rate limit) and the job is rescheduled with
``RetryLater(count_attempt=False)``; or something unexpected failed (the database) and
the queue's own retry policy reruns the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, bindparam, select, update

from renkei.delivery.ratelimit import EndpointRateLimiter
from renkei.delivery.recorder import AttemptRecord
from renkei.delivery.signing import build_headers, serialize_payload
from renkei.delivery.targets import OPERATIONAL_TYPES, Target
from renkei.delivery.transport import Response
from renkei.delivery.verdicts import Verdict, classify
from renkei.egress.limits import hold
from renkei.events.envelope import Event
from renkei.ids import new_id
from renkei.observability import tracing
from renkei.observability.metrics import DELIVERY_ATTEMPTS, DELIVERY_SECONDS
from renkei.queue import JobContext, RetryLater
from renkei.security.redaction import redact_headers
from renkei.store.config_version import read_version
from renkei.store.tables.core import events as events_table
from renkei.store.tables.webhooks import deliveries, endpoints, lane_open

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks

__all__ = ["DeliveryRow", "Finished", "attempt_delivery", "load_delivery", "send_once"]

RESPONSE_BODY_LIMIT = 20 * 1024


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    event_id: str
    endpoint_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    lane: str | None
    data: Any
    occurred_at: datetime


@dataclass(frozen=True)
class Finished:
    """What an attempt led to."""

    done: bool
    retry_at: datetime | None = None


_SELECT = select(
    deliveries.c.id,
    deliveries.c.event_id,
    deliveries.c.endpoint_id,
    deliveries.c.event_type,
    deliveries.c.status,
    deliveries.c.attempts,
    deliveries.c.next_attempt_at,
    deliveries.c.lane,
    events_table.c.data,
    events_table.c.occurred_at,
).join(events_table, events_table.c.id == deliveries.c.event_id)


async def load_delivery(webhooks: Webhooks, delivery_id: str) -> DeliveryRow | None:
    return await webhooks.delivery_loader.get(delivery_id)


async def load_deliveries(
    webhooks: Webhooks, delivery_ids: Sequence[str]
) -> dict[str, DeliveryRow]:
    """One query for the deliveries many concurrent tasks asked for (see batching.py)."""
    async with webhooks.hub.database.read() as connection:
        rows = await connection.execute(_SELECT_BY_IDS, {"ids": list(delivery_ids)})
        return {row.id: DeliveryRow(**row._mapping) for row in rows}


# Built once (a statement keeps its cache key): building and keying it per batch took
# longer than running it.
_SELECT_BY_IDS = _SELECT.where(deliveries.c.id.in_(bindparam("ids", expanding=True)))


def lane_head_query(endpoint_id: str, lane: str) -> Select[Any]:
    """The lane's first delivery still to send, found through ``ix_deliveries_lane_open``."""
    return (
        _SELECT.where(
            deliveries.c.endpoint_id == endpoint_id,
            deliveries.c.lane == lane,
            lane_open(),
            deliveries.c.status.in_(("pending", "failed")),
        )
        .order_by(deliveries.c.seq)
        .limit(1)
    )


async def load_lane_head(webhooks: Webhooks, endpoint_id: str, lane: str) -> DeliveryRow | None:
    async with webhooks.hub.database.read() as connection:
        row = (await connection.execute(lane_head_query(endpoint_id, lane))).first()
    return None if row is None else DeliveryRow(**row._mapping)


async def settle_endpoint(
    webhooks: Webhooks,
    endpoint_id: str,
    *,
    delivery_ids: Sequence[str] = (),
    lane: str | None = None,
) -> int | None:
    """Park (``held``) or drop (``cancelled``) deliveries the catalog says can't be sent
    now, if the database agrees; otherwise return the configuration version to send with.

    The catalog may be old (a resume or a new endpoint not seen yet), so it never decides
    alone: this reads the endpoint row under a share lock (``FOR SHARE``, or a single
    writer's lock) in the transaction that parks. A resume or delete waits for it,
    or it sees theirs: a delivery parked here is always visible to the resume that
    releases it. Returns ``None`` once parked, or the version a snapshot must reach for the
    caller to see the endpoint as the database has it (enabled).

    ``delivery_ids``: these deliveries; ``lane``: every open delivery of that lane.
    """
    now = webhooks.hub.clock.now()
    async with webhooks.hub.database.transaction() as connection:
        row = (
            await connection.execute(
                select(endpoints.c.disabled, endpoints.c.deleted_at)
                .where(endpoints.c.id == endpoint_id)
                .with_for_update(read=True)
            )
        ).first()
        if row is not None and row.deleted_at is None and not row.disabled:
            return await read_version(connection)
        status = "held" if row is not None and row.deleted_at is None else "cancelled"
        which: list[ColumnElement[bool]] = [deliveries.c.status.in_(("pending", "failed"))]
        if lane is not None:
            which += [
                deliveries.c.endpoint_id == endpoint_id,
                deliveries.c.lane == lane,
                lane_open(),
            ]
        else:
            which.append(deliveries.c.id.in_(list(delivery_ids)))
        await connection.execute(
            update(deliveries)
            .where(*which)
            .values(status=status, updated_at=now, next_attempt_at=None)
        )
    return None


async def sendable_target(webhooks: Webhooks, endpoint_id: str, **which: Any) -> Target | None:
    """The endpoint's target to send to, or None once its deliveries were parked or dropped
    because the database says the endpoint is disabled or gone."""
    target = (await webhooks.catalog.get()).targets.get(endpoint_id)
    if target is not None and not target.endpoint.disabled:
        return target
    version = await settle_endpoint(webhooks, endpoint_id, **which)
    if version is None:
        return None
    target = (await webhooks.catalog.get(min_version=version)).targets.get(endpoint_id)
    if target is None or target.endpoint.disabled:
        # Changed again between the two reads: look again soon rather than decide on it.
        raise RetryLater("endpoint changed while checked", delay=0.5, count_attempt=False)
    return target


def build_request(
    target: Target,
    message_id: str,
    event_type: str,
    occurred_at: datetime,
    data: Any,
    now: datetime,
) -> tuple[bytes, dict[str, str]]:
    body = serialize_payload(event_type, occurred_at, data)
    timestamp = int(now.timestamp())
    headers = {
        **target.endpoint.headers,
        "content-type": "application/json",
        **build_headers(message_id, timestamp, body, target.live_secrets(now)),
    }
    return body, headers


async def send_once(
    webhooks: Webhooks,
    target: Target,
    message_id: str,
    event_type: str,
    occurred_at: datetime,
    data: Any,
) -> tuple[Response, dict[str, str], datetime]:
    """One signed request; returns the response, the headers sent and when it started."""
    started = webhooks.hub.clock.now()
    body, headers = build_request(target, message_id, event_type, occurred_at, data, started)
    if tracing.ENABLED and (parent := tracing.traceparent()) is not None:
        headers["traceparent"] = parent
    if not target.live_secrets(started):
        return Response(None, error="no usable signing secret for this endpoint"), headers, started
    response = await webhooks.transport.send(
        target.endpoint.url, headers, body, target.endpoint.timeout_seconds
    )
    return response, headers, started


def attempt_row(
    *,
    delivery_id: str | None,
    endpoint_id: str,
    event_id: str,
    attempt: int,
    trigger: str,
    url: str,
    started: datetime,
    headers: dict[str, str],
    response: Response,
    success: bool,
) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "attempt": attempt,
        "trigger": trigger,
        "started_at": started,
        "url": url,
        "request_headers": redact_headers(
            response.result.request_headers if response.result is not None else headers
        ),
        "status_code": response.status,
        "response_headers": response.headers,
        "response_body": response.body[:RESPONSE_BODY_LIMIT] if response.body else response.body,
        "duration_ms": round(response.duration_ms, 3),
        "error": response.error,
        "success": success,
    }


def rate_limiter(webhooks: Webhooks, target: Target) -> EndpointRateLimiter | None:
    """The endpoint's send-rate limiter, or None when it has no limit."""
    rate = target.endpoint.rate_limit_per_second
    if not rate:
        return None
    hub = webhooks.hub
    return EndpointRateLimiter(hub.database, target.id, rate, clock=hub.clock)


async def attempt_delivery(
    webhooks: Webhooks,
    delivery: DeliveryRow,
    target: Target,
    *,
    trigger: str = "scheduled",
    job: JobContext | None = None,
) -> Finished:
    """Send ``delivery`` once and record the attempt (committed before this returns).

    ``job``: the job this attempt ends when it finishes the delivery; it is completed in the
    attempt's transaction."""
    if not tracing.ENABLED:
        return await _attempt(webhooks, delivery, target, trigger, None, job)
    attributes = {
        "renkei.endpoint.id": target.id,
        "renkei.delivery.id": delivery.id,
        "renkei.attempt": delivery.attempts + 1,
        "renkei.trigger": trigger,
    }
    with tracing.span(
        "renkei.delivery.attempt", event_id=delivery.event_id, attributes=attributes
    ) as current:
        return await _attempt(webhooks, delivery, target, trigger, current, job)


async def _attempt(
    webhooks: Webhooks,
    delivery: DeliveryRow,
    target: Target,
    trigger: str,
    current: tracing.Span | None,
    job: JobContext | None,
) -> Finished:
    async with hold(rate_limiter(webhooks, target)):
        response, headers, started = await send_once(
            webhooks,
            target,
            delivery.event_id,
            delivery.event_type,
            delivery.occurred_at,
            delivery.data,
        )
    hub = webhooks.hub
    attempts = delivery.attempts + 1
    verdict = classify(response, attempts, hub.settings, hub.queue.retry, started)
    status, next_at = _next_state(verdict)
    counted, timed = _metrics(target.id, status)
    counted.inc()
    timed.observe(response.duration_ms / 1000)
    if current is not None:
        current.set_attribute("http.response.status_code", response.status or 0)
        tracing.set_outcome(current, status, None if verdict.success else verdict.reason)
    record = AttemptRecord(
        attempt=attempt_row(
            delivery_id=delivery.id,
            endpoint_id=target.id,
            event_id=delivery.event_id,
            attempt=attempts,
            trigger=trigger,
            url=target.endpoint.url,
            started=started,
            headers=headers,
            response=response,
            success=verdict.success,
        ),
        delivery={
            "id": delivery.id,
            "status": status,
            "attempts": attempts,
            "next_attempt_at": next_at,
            "last_attempt_at": started,
            "last_status_code": response.status,
            "last_error": None if verdict.success else verdict.reason[:1000],
        },
        endpoint_id=target.id,
        success=verdict.success,
        at=started,
        disable_reason="gone" if verdict.disable else None,
        job=job if status != "failed" else None,
    )
    if delivery.event_type not in OPERATIONAL_TYPES:
        record.events = _operational_events(
            webhooks, delivery, target, status, attempts, response, started
        )
    record.make_events = lambda reason: [_endpoint_disabled(target, reason, started)]
    await webhooks.recorder.record(record)
    if status == "failed":
        return Finished(done=False, retry_at=next_at)
    return Finished(done=True)


_METRICS: dict[tuple[str, str], tuple[Any, Any]] = {}


def _metrics(endpoint_id: str, status: str) -> tuple[Any, Any]:
    """The endpoint's labelled attempt counter and latency histogram, looked up once per
    endpoint and outcome: ``labels()`` took about 8 µs of a delivery's CPU, several times
    what counting does (issue 15). Bounded, should endpoints come and go for ever."""
    found = _METRICS.get((endpoint_id, status))
    if found is None:
        found = (
            DELIVERY_ATTEMPTS.labels(endpoint_id, status),
            DELIVERY_SECONDS.labels(endpoint_id),
        )
        if len(_METRICS) < 10_000:
            _METRICS[(endpoint_id, status)] = found
    return found


def _next_state(verdict: Verdict) -> tuple[str, datetime | None]:
    if verdict.success:
        return "succeeded", None
    if verdict.disable:
        return "held", None
    if verdict.retry_at is None:
        return "exhausted", None
    return "failed", verdict.retry_at


def _operational_events(
    webhooks: Webhooks,
    delivery: DeliveryRow,
    target: Target,
    status: str,
    attempts: int,
    response: Response,
    at: datetime,
) -> list[Event]:
    threshold = webhooks.hub.settings.failing_event_after_attempts
    if status == "exhausted":
        kind = "message.attempt.exhausted"
    elif status == "failed" and attempts == threshold:
        kind = "message.attempt.failing"
    else:
        return []
    data = {
        "endpoint_id": target.id,
        "endpoint_name": target.endpoint.name,
        "delivery_id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "attempts": attempts,
        "last_attempt": {
            "at": at.isoformat(),
            "status_code": response.status,
            "error": response.error,
        },
    }
    # A deterministic id: rerunning this attempt after a crash does not publish it twice.
    suffix = "exhausted" if kind.endswith("exhausted") else "failing"
    return [
        Event(
            id=f"evt_{delivery.id}_{suffix}",
            type=kind,
            name=None,
            data=data,
            occurred_at=at,
            received_at=at,
            source_id="renkei",
        )
    ]


def _endpoint_disabled(target: Target, reason: str, at: datetime) -> Event:
    return Event(
        id=new_id("evt"),
        type="endpoint.disabled",
        name=None,
        data={
            "endpoint_id": target.id,
            "endpoint_name": target.endpoint.name,
            "reason": reason,
            "disabled_at": at.isoformat(),
        },
        occurred_at=at,
        received_at=at,
        source_id="renkei",
    )


# -- tasks ---------------------------------------------------------------------------------


async def run_send(webhooks: Webhooks, delivery_id: str, job: JobContext | None = None) -> None:
    """The ``deliveries.send`` task (``job``: its context, completed with the attempt)."""
    loaded = job.job.loaded if job is not None else None
    if isinstance(loaded, DeliveryRow):  # taken at enqueue: as fan-out stored it
        delivery: DeliveryRow | None = loaded
    else:
        delivery = await load_delivery(webhooks, delivery_id)
    if delivery is None or delivery.status not in ("pending", "failed"):
        return
    target = await sendable_target(webhooks, delivery.endpoint_id, delivery_ids=[delivery.id])
    if target is None:
        return
    now = webhooks.hub.clock.now()
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + _EARLY:
        raise RetryLater("not due yet", at=delivery.next_attempt_at, count_attempt=False)
    finished = await attempt_delivery(webhooks, delivery, target, job=job)
    if not finished.done:
        raise RetryLater("delivery attempt failed", at=finished.retry_at, count_attempt=False)


_EARLY = timedelta(milliseconds=50)
LANE_BUDGET_SECONDS = 10.0
LANE_BUDGET_DELIVERIES = 500


async def run_lane(webhooks: Webhooks, endpoint_id: str, lane: str) -> None:
    """The ``deliveries.lane`` task: send a FIFO lane's deliveries in order."""
    from renkei.delivery.ordering import release_lane

    loop = asyncio.get_running_loop()
    deadline = loop.time() + LANE_BUDGET_SECONDS
    sent = 0
    while True:
        target = await sendable_target(webhooks, endpoint_id, lane=lane)
        if target is not None:
            head = await load_lane_head(webhooks, endpoint_id, lane)
            if head is not None:
                now = webhooks.hub.clock.now()
                if head.next_attempt_at is not None and head.next_attempt_at > now + _EARLY:
                    raise RetryLater(
                        "lane head waits", at=head.next_attempt_at, count_attempt=False
                    )
                if sent >= LANE_BUDGET_DELIVERIES or loop.time() > deadline:
                    raise RetryLater("lane yields", delay=0, count_attempt=False)
                finished = await attempt_delivery(webhooks, head, target)
                sent += 1
                if not finished.done:
                    raise RetryLater("lane head failed", at=finished.retry_at, count_attempt=False)
                continue
        async with webhooks.hub.database.transaction() as connection:
            if await release_lane(connection, endpoint_id, lane):
                return
