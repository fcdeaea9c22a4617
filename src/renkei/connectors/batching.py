"""Batching through the durable queue: records for the same connection and operation
coalesce into one vendor call of up to the batch size, or whatever has waited
``RENKEI_CONNECTOR_BATCH_WAIT_SECONDS``.

Each submitted record is a row of ``connector_records`` (``pending``). A job of task
``connectors.call`` claims a batch (``running``, with its job id), calls the operation and
writes every record's outcome back (``ok`` or ``error``, with the vendor's id, status or
error). Jobs are created so that a batch goes out as soon as it is full:

- :func:`submit`, in the caller's transaction, enqueues a job for every full batch the new
  records complete, and arms the connection+operation's *timer* (one row of
  ``connector_batch_timers``, one delayed job) for the rest;
- a job that finds fewer records than a batch and none overdue leaves them for the timer;
- a job that claimed a batch enqueues the next one before calling the vendor, so batches
  go out in parallel as far as the limits allow.

Failures map onto the queue: a rate limit or a full window parks the job without using
an attempt (``RetryLater(count_attempt=False)``); a spent daily quota parks it until the
vendor's reset; a retryable error retries on the schedule (or the vendor's Retry-After);
a permanent one fails the batch's records and dead-letters the job. A parked job keeps its
claimed records and sends exactly them when it runs again, so nothing is lost or reordered
within a batch. Records of a job that died for good are put back by the sweep.

When every record of a submission has its outcome, the submission's ``reply_to`` task is
enqueued (once) with the counts: that is how a flow step learns its action finished.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.connections import ConnectionNotFound, find_connection
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
    RecordError,
    RetryableError,
)
from renkei.connectors.metrics import default_metrics
from renkei.connectors.spec import Operation, OperationResult, RecordOk
from renkei.ids import new_id
from renkei.queue import GiveUp, Job, JobContext, RetryLater, live_job_ids
from renkei.store.statements import insert_ignoring
from renkei.store.tables.connectors import (
    connector_batch_timers,
    connector_quota_days,
    connector_rate_slots,
    connector_records,
    connector_submissions,
)
from renkei.store.types import UTCDateTime

if TYPE_CHECKING:
    from renkei.connectors.runtime import ConnectorRuntime

__all__ = [
    "CALL_TASK",
    "MAX_RECORD_ATTEMPTS",
    "SWEEP_TASK",
    "RecordOutcome",
    "Submission",
    "SubmissionRejected",
    "UnknownConnection",
    "get_submission",
    "run_call",
    "submit",
    "sweep",
]

log = structlog.get_logger("renkei.connectors")

CALL_TASK = "connectors.call"
SWEEP_TASK = "connectors.sweep"
# A record that keeps failing with retryable per-record errors, or whose job keeps dying,
# gets this many tries.
MAX_RECORD_ATTEMPTS = 5
# A timer whose job has not run this long after it was due is considered lost.
_TIMER_GRACE = timedelta(minutes=10)
_OPEN = ("pending", "running")

records = connector_records
submissions = connector_submissions
timers = connector_batch_timers


class SubmissionRejected(PermanentError, ValueError):
    """A submission that can never run: unknown operation, no records, bad reply_to."""


class UnknownConnection(SubmissionRejected, LookupError):
    """No connection has that id or name."""


# --- outcomes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordOutcome:
    position: int
    status: str  # pending | running | ok | error
    vendor_id: str | None = None
    vendor_status: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    data: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "status": self.status,
            "vendor_id": self.vendor_id,
            "vendor_status": self.vendor_status,
            "error": (
                {"code": self.error_code, "message": self.error_message}
                if self.status == "error" or self.error_code
                else None
            ),
            "attempts": self.attempts,
            "data": self.data,
        }


@dataclass(frozen=True)
class Submission:
    id: str
    connection_id: str
    operation: str
    total: int
    counts: Mapping[str, int]
    records: tuple[RecordOutcome, ...]
    created_at: datetime
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "operation": self.operation,
            "total": self.total,
            "done": self.done,
            "counts": dict(self.counts),
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "records": [r.as_dict() for r in self.records],
        }


async def get_submission(connection: AsyncConnection, submission_id: str) -> Submission | None:
    """A submission and the outcome of each of its records, in submission order."""
    head = (
        await connection.execute(select(submissions).where(submissions.c.id == submission_id))
    ).first()
    if head is None:
        return None
    rows = (
        await connection.execute(
            select(
                records.c.position,
                records.c.status,
                records.c.vendor_id,
                records.c.vendor_status,
                records.c.error_code,
                records.c.error_message,
                records.c.attempts,
                records.c.data,
            )
            .where(records.c.submission_id == submission_id)
            .order_by(records.c.position)
        )
    ).all()
    outcomes = tuple(RecordOutcome(**row._mapping) for row in rows)
    counts = {status: 0 for status in ("pending", "running", "ok", "error")}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return Submission(
        id=head.id,
        connection_id=head.connection_id,
        operation=head.operation,
        total=head.total,
        counts=counts,
        records=outcomes,
        created_at=head.created_at,
        finished_at=head.finished_at,
    )


# --- submitting --------------------------------------------------------------------------


async def submit(
    runtime: ConnectorRuntime,
    tx: AsyncConnection,
    connection: str,
    operation: str,
    items: Sequence[Any],
    *,
    reply_to: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> str:
    """Queue ``items`` for ``operation`` of the connection whose id or name is
    ``connection``, inside the caller's transaction; return the submission id.

    For a batchable operation each item is one record; for any other operation each item
    is the input of one call. ``reply_to`` (``{"task": name, "payload": {...}}``) is
    enqueued once every item has its outcome, with ``submission_id``, ``ok`` and ``failed``
    added to its payload. ``key`` makes the call idempotent: a second submission with the
    same key returns the first one's id and queues nothing.

    Raises :class:`UnknownConnection` or :class:`SubmissionRejected` (both
    :class:`PermanentError`) for a submission that can never run.
    """
    hub = runtime.hub
    if key is not None:
        existing = (
            await tx.execute(select(submissions.c.id).where(submissions.c.key == key))
        ).scalar_one_or_none()
        if existing is not None:
            return str(existing)
    row = await find_connection(tx, connection)
    if row is None:
        raise UnknownConnection(
            f"connection {connection} does not exist", code="unknown_connection"
        )
    try:
        op = runtime.connector(row).spec.operation(operation)
        size = runtime.limits(row).batch_size_for(op)
    except ConnectorError as exc:
        raise SubmissionRejected(exc.message, code=exc.code) from exc
    items = list(items)
    if not items:
        raise SubmissionRejected("nothing to submit", code="invalid_input")
    if reply_to is not None:
        reply_to = _check_reply_to(runtime, reply_to)
    if op.id_field:
        items = [_with_id(item, op.id_field) for item in items]
    now = hub.clock.now()
    submission_id = new_id("sub")
    await tx.execute(
        insert(submissions).values(
            id=submission_id,
            connection_id=row.id,
            operation=op.name,
            total=len(items),
            key=key,
            reply_to=reply_to,
            created_at=now,
        )
    )
    await tx.execute(
        insert(records),
        [
            {
                "submission_id": submission_id,
                "connection_id": row.id,
                "operation": op.name,
                "position": position,
                "payload": item,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for position, item in enumerate(items)
        ],
    )
    pending, oldest = await _pending(tx, row.id, op.name)
    full_batches = pending // size - max(0, pending - len(items)) // size
    for _ in range(full_batches):
        await _enqueue_call(runtime, tx, row.id, op.name)
    if pending % size and oldest is not None:
        await _arm_timer(runtime, tx, row.id, op.name, oldest + _wait(runtime))
    return submission_id


def _check_reply_to(runtime: ConnectorRuntime, reply_to: Mapping[str, Any]) -> dict[str, Any]:
    task = reply_to.get("task")
    payload = reply_to.get("payload", {})
    if not isinstance(task, str) or runtime.hub.registry.find(task) is None:
        raise SubmissionRejected(
            f"reply_to names no registered task: {task!r}", code="invalid_input"
        )
    if not isinstance(payload, Mapping):
        raise SubmissionRejected("reply_to.payload must be an object", code="invalid_input")
    return {"task": task, "payload": dict(payload)}


def _with_id(item: Any, field_name: str) -> Any:
    if isinstance(item, Mapping) and not item.get(field_name):
        return {**item, field_name: str(uuid.uuid4())}
    return item


def _wait(runtime: ConnectorRuntime) -> timedelta:
    return timedelta(seconds=runtime.hub.settings.connector_batch_wait_seconds)


async def _pending(
    tx: AsyncConnection, connection_id: str, operation: str
) -> tuple[int, datetime | None]:
    row = (
        await tx.execute(
            select(func.count(), func.min(records.c.created_at)).where(
                records.c.connection_id == connection_id,
                records.c.operation == operation,
                records.c.status == "pending",
            )
        )
    ).one()
    oldest = row[1]
    if isinstance(oldest, str):  # in case an aggregate loses the column's type
        oldest = UTCDateTime().process_result_value(oldest, None)  # type: ignore[arg-type]
    return int(row[0]), oldest


async def _enqueue_call(
    runtime: ConnectorRuntime,
    tx: AsyncConnection,
    connection_id: str,
    operation: str,
    *,
    flush: bool = False,
    run_at: datetime | None = None,
) -> None:
    payload: dict[str, Any] = {"connection_id": connection_id, "operation": operation}
    if flush:
        payload["flush"] = True
    await runtime.hub.queue.enqueue(tx, CALL_TASK, payload, run_at=run_at)


async def _arm_timer(
    runtime: ConnectorRuntime,
    tx: AsyncConnection,
    connection_id: str,
    operation: str,
    due: datetime,
) -> None:
    """Make sure one job will send whatever is pending for this operation by ``due``."""
    now = runtime.hub.clock.now()
    due = max(due, now)
    armed = await tx.execute(
        insert_ignoring(tx, timers).values(
            connection_id=connection_id, operation=operation, due_at=due, created_at=now
        )
    )
    if armed.rowcount:
        await _enqueue_call(runtime, tx, connection_id, operation, flush=True, run_at=due)


# --- the task ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    id: int
    submission_id: str
    payload: Any
    attempts: int


async def run_call(runtime: ConnectorRuntime, ctx: JobContext) -> None:
    """Task ``connectors.call``: send one batch for a connection and operation."""
    connection_id = str(ctx.payload["connection_id"])
    operation = str(ctx.payload["operation"])
    try:
        row = await runtime.load(connection_id)
    except ConnectionNotFound:
        return  # deleted, and its records with it
    try:
        op = runtime.connector(row).spec.operation(operation)
        size = runtime.limits(row).batch_size_for(op)
    except ConnectorError as exc:
        raise GiveUp(str(exc)) from exc
    labels = (row.connector, op.name, row.name)
    quota = runtime.quota(row)
    if quota is not None:
        # A spent day parks the job before it claims anything: no batch is held, and no
        # chain of jobs runs through the backlog only to be refused one by one.
        usage = await quota.usage()
        if usage.remaining <= 0:
            if not await _has_work(runtime, ctx.job, row.id, op.name):
                return  # a flush whose records another job already sent: nothing to park
            default_metrics().parked.labels(*labels, "quota").inc()
            raise RetryLater(
                f"daily quota of {usage.limit} calls is used up",
                at=usage.resets_at,
                count_attempt=False,
            )
    batch = await _claim(runtime, ctx.job, row.id, op, size, bool(ctx.payload.get("flush")))
    if not batch:
        return
    input = [item.payload for item in batch] if op.batchable else batch[0].payload
    try:
        result = await runtime.call(row, op.name, input)
    except QuotaExhaustedError as exc:
        default_metrics().parked.labels(*labels, "quota").inc()
        raise RetryLater(str(exc), at=exc.resets_at, count_attempt=False) from exc
    except RateLimitedError as exc:
        default_metrics().parked.labels(*labels, "rate_limit").inc()
        delay = max(exc.retry_after or 1.0, 0.01)
        raise RetryLater(str(exc), delay=delay, count_attempt=False) from exc
    except (RetryableError, ConfigurationError) as exc:
        # Refused credentials wait on the schedule too: someone may fix them in time.
        if ctx.job.is_last_attempt:
            await _fail(runtime, batch, exc)
            default_metrics().records.labels(*labels, "error").inc(len(batch))
            raise GiveUp(str(exc)) from exc
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            raise RetryLater(str(exc), delay=exc.retry_after) from exc
        raise
    except PermanentError as exc:
        await _fail(runtime, batch, exc)
        default_metrics().records.labels(*labels, "error").inc(len(batch))
        raise GiveUp(str(exc)) from exc
    outcomes = await _finish(runtime, row.id, op, batch, result)
    for outcome, count in outcomes.items():
        default_metrics().records.labels(*labels, outcome).inc(count)


async def _has_work(
    runtime: ConnectorRuntime, job: Job, connection_id: str, operation: str
) -> bool:
    """Whether a call job would find records to send (its own parked batch, or pending)."""
    mine = (records.c.job_id == job.id) & (records.c.status == "running")
    query = (
        select(records.c.id)
        .where(
            records.c.connection_id == connection_id,
            records.c.operation == operation,
            (records.c.status == "pending") | mine,
        )
        .limit(1)
    )
    async with runtime.hub.database.read() as connection:
        return (await connection.execute(query)).first() is not None


async def _claim(
    runtime: ConnectorRuntime,
    job: Job,
    connection_id: str,
    op: Operation,
    size: int,
    flush: bool,
) -> list[_Claimed]:
    now = runtime.hub.clock.now()
    wait = _wait(runtime)
    columns = (records.c.id, records.c.submission_id, records.c.payload, records.c.attempts)
    async with runtime.hub.database.transaction() as tx:
        if flush:
            await tx.execute(
                delete(timers).where(
                    timers.c.connection_id == connection_id, timers.c.operation == op.name
                )
            )
        mine = (
            await tx.execute(
                select(*columns)
                .where(records.c.job_id == job.id, records.c.status == "running")
                .order_by(records.c.id)
            )
        ).all()
        if mine:  # this job was parked with its batch: send exactly that batch again
            return [_Claimed(*row) for row in mine]
        await _reclaim_orphans(tx, now, connection_id=connection_id, operation=op.name)
        chosen = (
            await tx.execute(
                select(*columns, records.c.created_at)
                .where(
                    records.c.connection_id == connection_id,
                    records.c.operation == op.name,
                    records.c.status == "pending",
                )
                .order_by(records.c.id)
                .limit(size)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not chosen:
            return []
        overdue = chosen[0].created_at <= now - wait
        if len(chosen) < size and not (flush or overdue):
            await _arm_timer(runtime, tx, connection_id, op.name, chosen[0].created_at + wait)
            return []
        await tx.execute(
            update(records)
            .where(records.c.id.in_([row.id for row in chosen]))
            .values(status="running", job_id=job.id, batch_id=new_id("batch"), updated_at=now)
        )
        pending, oldest = await _pending(tx, connection_id, op.name)
        if pending >= size:
            await _enqueue_call(runtime, tx, connection_id, op.name)
        elif pending and oldest is not None:
            await _arm_timer(runtime, tx, connection_id, op.name, oldest + wait)
    return [_Claimed(row.id, row.submission_id, row.payload, row.attempts) for row in chosen]


async def _reclaim_orphans(
    tx: AsyncConnection,
    now: datetime,
    *,
    connection_id: str | None = None,
    operation: str | None = None,
) -> int:
    """Records claimed by a job that no longer exists or is dead go back to pending, or
    fail once they have had their tries."""
    alive = live_job_ids()
    orphaned = and_(
        records.c.status == "running",
        or_(records.c.job_id.is_(None), records.c.job_id.not_in(alive)),
    )
    if connection_id is not None:
        orphaned = and_(orphaned, records.c.connection_id == connection_id)
    if operation is not None:
        orphaned = and_(orphaned, records.c.operation == operation)
    abandoned = await tx.execute(
        update(records)
        .where(orphaned, records.c.attempts + 1 >= MAX_RECORD_ATTEMPTS)
        .values(
            status="error",
            attempts=records.c.attempts + 1,
            error_code="abandoned",
            error_message="the job sending this record failed too many times",
            updated_at=now,
            finished_at=now,
        )
    )
    requeued = await tx.execute(
        update(records)
        .where(orphaned)
        .values(
            status="pending",
            job_id=None,
            batch_id=None,
            attempts=records.c.attempts + 1,
            updated_at=now,
        )
    )
    return int(abandoned.rowcount + requeued.rowcount)


async def _fail(runtime: ConnectorRuntime, batch: Sequence[_Claimed], exc: ConnectorError) -> None:
    now = runtime.hub.clock.now()
    async with runtime.hub.database.transaction() as tx:
        await _lock_submissions(tx, {item.submission_id for item in batch})
        await tx.execute(
            update(records)
            .where(records.c.id.in_([item.id for item in batch]))
            .values(
                status="error",
                attempts=records.c.attempts + 1,
                error_code=(exc.code or type(exc).__name__)[:64],
                error_message=exc.message,
                updated_at=now,
                finished_at=now,
            )
        )
        await _close_submissions(runtime, tx, {item.submission_id for item in batch}, now)


async def _finish(
    runtime: ConnectorRuntime,
    connection_id: str,
    op: Operation,
    batch: Sequence[_Claimed],
    result: OperationResult,
) -> Counter[str]:
    """Write every record's outcome back; returns how many ended ok, error or retry."""
    now = runtime.hub.clock.now()
    if op.batchable:
        outcomes = list(result.records)
        by_index = {outcome.index: outcome for outcome in outcomes}
    else:
        first = result.records[0] if result.records else RecordOk(0)
        by_index = {0: first}
    values: list[dict[str, Any]] = []
    requeued = False
    for index, item in enumerate(batch):
        outcome = by_index.get(index) or RecordError(
            index, "missing_result", "the connector reported nothing for it"
        )
        row: dict[str, Any] = {
            "record_id": item.id,
            "status": "ok",
            "attempts": item.attempts + 1,
            "vendor_id": None,
            "vendor_status": None,
            "error_code": None,
            "error_message": None,
            "data": None if op.batchable else result.data,
            "job_id": None,
            "finished_at": now,
        }
        if isinstance(outcome, RecordOk):
            row["vendor_id"] = None if outcome.id is None else str(outcome.id)[:255]
            row["vendor_status"] = None if outcome.status is None else outcome.status[:64]
        else:
            row["error_code"] = outcome.code[:64]
            row["error_message"] = outcome.message
            if outcome.retryable and item.attempts + 1 < MAX_RECORD_ATTEMPTS:
                row.update(status="pending", finished_at=None)
                requeued = True
            else:
                row["status"] = "error"
        values.append(row)
    async with runtime.hub.database.transaction() as tx:
        await _lock_submissions(tx, {item.submission_id for item in batch})
        await tx.execute(
            update(records)
            .where(records.c.id == bindparam("record_id"))
            .values(
                status=bindparam("status"),
                attempts=bindparam("attempts"),
                vendor_id=bindparam("vendor_id"),
                vendor_status=bindparam("vendor_status"),
                error_code=bindparam("error_code"),
                error_message=bindparam("error_message"),
                data=bindparam("data", type_=records.c.data.type),
                job_id=bindparam("job_id", type_=records.c.job_id.type),
                updated_at=now,
                finished_at=bindparam("finished_at", type_=records.c.finished_at.type),
            )
            .execution_options(synchronize_session=False),
            values,
        )
        if requeued:
            await _arm_timer(runtime, tx, connection_id, op.name, now + _wait(runtime))
        await _close_submissions(runtime, tx, {item.submission_id for item in batch}, now)
    return Counter("retry" if row["status"] == "pending" else row["status"] for row in values)


async def _lock_submissions(tx: AsyncConnection, submission_ids: set[str]) -> None:
    """Take the submissions' rows before writing their records' outcomes. Two batches of one
    submission finishing at once (with many writers) would otherwise each see the other's
    records still open and neither would close the submission; in id order, so they can't
    deadlock. (With a single writer, write transactions run one at a time anyway.)"""
    await tx.execute(
        select(submissions.c.id)
        .where(submissions.c.id.in_(sorted(submission_ids)))
        .order_by(submissions.c.id)
        .with_for_update()
    )


async def _close_submissions(
    runtime: ConnectorRuntime, tx: AsyncConnection, submission_ids: set[str], now: datetime
) -> None:
    """Mark finished every submission with no open record left; answer its reply_to."""
    for submission_id in sorted(submission_ids):
        still_open = exists().where(
            records.c.submission_id == submissions.c.id, records.c.status.in_(_OPEN)
        )
        closed = (
            await tx.execute(
                update(submissions)
                .where(
                    submissions.c.id == submission_id,
                    submissions.c.finished_at.is_(None),
                    ~still_open,
                )
                .values(finished_at=now)
                .returning(
                    submissions.c.reply_to, submissions.c.connection_id, submissions.c.operation
                )
            )
        ).first()
        if closed is None or not closed.reply_to:
            continue
        counted = await tx.execute(
            select(records.c.status, func.count())
            .where(records.c.submission_id == submission_id)
            .group_by(records.c.status)
        )
        counts = {str(status): int(count) for status, count in counted}
        reply = dict(closed.reply_to)
        payload = {
            **reply.get("payload", {}),
            "submission_id": submission_id,
            "connection_id": closed.connection_id,
            "operation": closed.operation,
            "ok": int(counts.get("ok", 0)),
            "failed": int(counts.get("error", 0)),
        }
        await runtime.hub.queue.enqueue(tx, str(reply["task"]), payload)


# --- upkeep ------------------------------------------------------------------------------


async def sweep(runtime: ConnectorRuntime) -> dict[str, int]:
    """Task ``connectors.sweep`` (every minute): put back records of dead jobs, make sure
    every pending record has a job coming, and forget old outcomes and counters."""
    hub = runtime.hub
    now = hub.clock.now()
    retention = timedelta(days=hub.settings.connector_record_retention_days)
    async with hub.database.transaction() as tx:
        reclaimed = await _reclaim_orphans(tx, now)
        await tx.execute(delete(timers).where(timers.c.due_at < now - _TIMER_GRACE))
        waiting = (
            await tx.execute(
                select(records.c.connection_id, records.c.operation)
                .where(records.c.status == "pending")
                .group_by(records.c.connection_id, records.c.operation)
            )
        ).all()
        for connection_id, operation in waiting:
            await _arm_timer(runtime, tx, connection_id, operation, now)
        pruned = await tx.execute(
            delete(submissions).where(
                submissions.c.finished_at.is_not(None), submissions.c.finished_at < now - retention
            )
        )
        await tx.execute(
            delete(connector_quota_days).where(
                connector_quota_days.c.resets_at < now - timedelta(days=35)
            )
        )
        await tx.execute(
            delete(connector_rate_slots).where(
                connector_rate_slots.c.expires_at < now - timedelta(days=1)
            )
        )
    if reclaimed:
        log.warning("connector.records_reclaimed", count=reclaimed)
    return {"reclaimed": reclaimed, "armed": len(waiting), "pruned": int(pruned.rowcount)}
