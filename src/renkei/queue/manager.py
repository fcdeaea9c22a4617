"""Domain operations on the ``jobs`` and ``schedules`` tables.

Every statement here is portable SQLAlchemy Core (the two that each backend spells its
own way come from :mod:`renkei.store.statements` and :mod:`renkei.store.notifications`).
The claim is safe on both backends: where the database has many writers, ``FOR UPDATE SKIP
LOCKED`` keeps concurrent claimers from waiting on or double-taking a row; where it has a
single writer (which ignores the clause), the claim runs in a write transaction that only
one claimer is ever in.
"""

from __future__ import annotations

import functools
import os
import socket
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
import structlog
from sqlalchemy import (
    BindParameter,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.backoff import Backoff
from renkei.clock import Clock, SystemClock
from renkei.queue.jobs import Finished, Job, NewJob
from renkei.queue.liveness import host_identity, process_exists, workers
from renkei.queue.registry import Periodic, Task, TaskRegistry
from renkei.queue.ticks import next_tick, previous_tick
from renkei.store.database import Database
from renkei.store.direct import DirectWrite
from renkei.store.notifications import notify
from renkei.store.statements import insert_ignoring
from renkei.store.tables import jobs, schedules

NOTIFY_CHANNEL = "renkei_jobs"
WAKE_FLAG = "renkei.jobs_enqueued"
_ERROR_LIMIT = 4000

log = structlog.get_logger("renkei.queue")


class JobTaker(Protocol):
    """This process's worker, as :meth:`JobQueue.enqueue_many` sees it (``Worker``)."""

    id: str

    def free_slots(self) -> int:
        """How many more jobs it would start now (0 while it stops or is behind)."""
        ...

    @property
    def lease_seconds(self) -> float: ...

    def adopt(self, taken: Sequence[Job]) -> None:
        """Run these jobs, stored leased to it by a transaction that just committed."""
        ...


class JobQueue:
    def __init__(
        self,
        database: Database,
        registry: TaskRegistry,
        *,
        retry: Backoff,
        clock: Clock | None = None,
    ) -> None:
        self.database = database
        self.registry = registry
        self.retry = retry
        self.clock = clock or SystemClock()
        # Jobs this process enqueued due at once, by queue (rolled back ones too): what
        # ``pressure.DueBacklog`` adds to its last count between two reads.
        self.enqueued_due: Counter[str] = Counter()
        self.taker: JobTaker | None = None
        """This process's running worker, which may take jobs at enqueue (set by it)."""
        self._taken_flag = f"renkei.jobs_taken.{id(self):x}"
        database.after_commit(self._taken_flag, _hand_over)

    # -- enqueue ---------------------------------------------------------------------------

    async def enqueue(
        self,
        connection: AsyncConnection,
        task: str,
        payload: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        run_at: datetime | None = None,
        delay: float | None = None,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
    ) -> bool:
        """Add a job inside the caller's transaction. False when ``dedupe_key`` is pending."""
        if delay is not None:
            run_at = self.clock.now() + timedelta(seconds=delay)
        job = NewJob(task, payload or {}, queue, run_at, dedupe_key, max_attempts)
        return await self.enqueue_many(connection, [job]) == 1

    async def enqueue_many(self, connection: AsyncConnection, new_jobs: Iterable[NewJob]) -> int:
        """Add jobs inside the caller's transaction; returns how many were added.

        While this process's worker has free slots and has caught up with the queue, the
        jobs of a ``take_at_enqueue`` task that are due at once are stored already taken
        by it (running, leased, as a claim leaves them) and handed to it when the
        transaction commits: no claim, no wake-up, no second read of what the enqueuer
        had at hand (``NewJob.loaded``). A crash in between is a claimed job's crash: the
        lease or the worker's death gives the job back."""
        now = self.clock.now()
        taker = self.taker
        free = taker.free_slots() if taker is not None else 0
        rows: list[dict[str, Any]] = []
        taken: list[tuple[NewJob, dict[str, Any]]] = []
        for job in new_jobs:
            task = self.registry.get(job.task)
            row = self._row(job, task, now)
            if (
                free > len(taken)
                and task.take_at_enqueue
                and job.dedupe_key is None
                and row["run_at"] <= now
            ):
                taken.append((job, row))
            else:
                rows.append(row)
                if row["run_at"] <= now:
                    self.enqueued_due[row["queue"]] += 1
        if taken and taker is not None:
            await self._store_taken(connection, taker, taken, now)
        keyed = [row for row in rows if row["dedupe_key"] is not None]
        plain = [row for row in rows if row["dedupe_key"] is None]
        added = len(taken)
        if plain:
            await _INSERT_JOBS.executemany(connection, plain)
            added += len(plain)
        for row in keyed:
            result = await connection.execute(insert_ignoring(connection, jobs).values(**row))
            added += result.rowcount
        if added > len(taken):
            await self._signal(connection)
        return added

    def _row(self, job: NewJob, task: Task, now: datetime) -> dict[str, Any]:
        policy = task.retry or self.retry
        return {
            "queue": job.queue or task.queue,
            "task": job.task,
            "payload": job.payload,
            "status": "scheduled",
            "run_at": job.run_at or now,
            "attempts": 0,
            "max_attempts": job.max_attempts or policy.max_attempts,
            "dedupe_key": job.dedupe_key,
            "created_at": now,
            "updated_at": now,
        }

    async def _store_taken(
        self,
        connection: AsyncConnection,
        taker: JobTaker,
        taken: Sequence[tuple[NewJob, dict[str, Any]]],
        now: datetime,
    ) -> None:
        lease_expires_at = now + timedelta(seconds=taker.lease_seconds)
        rows = [
            row
            | {
                "status": "running",
                "attempts": 1,
                "worker_id": taker.id,
                "lease_expires_at": lease_expires_at,
            }
            for _, row in taken
        ]
        ids = await _INSERT_JOBS.insert_ids(connection, rows)
        if ids is None:
            ids = _ids_in_order(rows, (await connection.execute(_INSERT_TAKEN, rows)).all())
        handed = [
            Job(
                id=job_id,
                queue=row["queue"],
                task=row["task"],
                payload=row["payload"],
                attempts=1,
                max_attempts=row["max_attempts"],
                run_at=row["run_at"],
                dedupe_key=None,
                loaded=job.loaded,
            )
            for job_id, row, (job, _) in zip(ids, rows, taken, strict=True)
        ]
        pending = connection.info.setdefault(self._taken_flag, (taker, []))
        pending[1].extend(handed)

    async def _signal(self, connection: AsyncConnection) -> None:
        connection.info[WAKE_FLAG] = True
        await notify(connection, NOTIFY_CHANNEL)

    # -- claim and finish ------------------------------------------------------------------

    async def claim(
        self, worker_id: str, *, limit: int, lease_seconds: float, queues: Sequence[str] | None
    ) -> list[Job]:
        now = self.clock.now()
        values = {
            "now": now,
            "limit": limit,
            "worker_id": worker_id,
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
        }
        async with self.database.transaction() as connection:
            statement = _claim_statement(None if queues is None else tuple(queues))
            rows = (await connection.execute(statement, values)).all()
        claimed = [Job(**row._mapping) for row in rows]
        claimed.sort(key=lambda job: (job.run_at, job.id))
        return claimed

    async def complete_in(self, connection: AsyncConnection, done: Sequence[Job]) -> None:
        """Complete ``done`` inside the caller's transaction (what :meth:`finish` does for
        a job whose task succeeded), guarded by the attempt number the same way."""
        await _COMPLETE.executemany(
            connection, [{"job_id": j.id, "attempt": j.attempts} for j in done]
        )

    async def finish(self, results: Sequence[Finished]) -> None:
        """Record a batch of results in one transaction.

        Each statement is guarded by the attempt number, so a worker whose lease ran out
        cannot overwrite what the worker that took the job over has done.
        """
        results = [r for r in results if not r.written]
        if not results:
            return
        now = self.clock.now()
        done = [{"job_id": r.job.id, "attempt": r.job.attempts} for r in results if r.error is None]
        retried = [self._retry_row(r, now) for r in results if r.error is not None and not r.dead]
        dead = [
            {"job_id": r.job.id, "attempt": r.job.attempts, "error": _clip(r.error), "now": now}
            for r in results
            if r.dead
        ]
        async with self.database.transaction() as connection:
            if done:
                await connection.execute(_DELETE_CURRENT_ATTEMPT, done)
            if retried:
                await connection.execute(
                    update(jobs)
                    .where(_is_current_attempt(), _no_pending_twin())
                    .values(
                        status="scheduled",
                        run_at=bindparam("retry_at"),
                        attempts=jobs.c.attempts - bindparam("refund"),
                        last_error=bindparam("error"),
                        worker_id=None,
                        lease_expires_at=None,
                        updated_at=bindparam("now"),
                    ),
                    retried,
                )
                await self._supersede(connection, _is_current_attempt(), retried)
                await self._signal(connection)
            if dead:
                await connection.execute(
                    update(jobs)
                    .where(_is_current_attempt())
                    .values(
                        status="dead",
                        last_error=bindparam("error"),
                        worker_id=None,
                        lease_expires_at=None,
                        updated_at=bindparam("now"),
                    ),
                    dead,
                )

    async def _supersede(
        self, connection: AsyncConnection, still_ours: Any, rows: list[dict[str, Any]]
    ) -> None:
        """Cancel the jobs that could not go back to the queue because a newer job with the
        same dedupe key is already pending: that job will do the same work."""
        await connection.execute(
            update(jobs)
            .where(still_ours)
            .values(
                status="cancelled",
                last_error="superseded by a pending job with the same dedupe key",
                worker_id=None,
                lease_expires_at=None,
                updated_at=bindparam("now"),
            ),
            rows,
        )

    def _retry_row(self, result: Finished, now: datetime) -> dict[str, Any]:
        return {
            "job_id": result.job.id,
            "attempt": result.job.attempts,
            "retry_at": result.retry_at or now,
            "refund": 1 if result.refund_attempt else 0,
            "error": _clip(result.error),
            "now": now,
        }

    async def extend_leases(self, worker_id: str, job_ids: Sequence[int], seconds: float) -> None:
        if not job_ids:
            return
        now = self.clock.now()
        async with self.database.transaction() as connection:
            await connection.execute(
                update(jobs)
                .where(
                    jobs.c.id.in_(list(job_ids)),
                    jobs.c.worker_id == worker_id,
                    jobs.c.status == "running",
                )
                .values(lease_expires_at=now + timedelta(seconds=seconds), updated_at=now)
            )

    async def release(self, worker_id: str, job_ids: Sequence[int]) -> None:
        """Give unfinished jobs back at shutdown, without using up an attempt."""
        if not job_ids:
            return
        now = self.clock.now()
        mine = and_(
            jobs.c.id == bindparam("job_id"),
            jobs.c.worker_id == worker_id,
            jobs.c.status == "running",
        )
        rows = [{"job_id": job_id, "now": now} for job_id in job_ids]
        async with self.database.transaction() as connection:
            await connection.execute(
                update(jobs)
                .where(mine, _no_pending_twin())
                .values(
                    status="scheduled",
                    attempts=jobs.c.attempts - 1,
                    run_at=now,
                    worker_id=None,
                    lease_expires_at=None,
                    updated_at=now,
                ),
                rows,
            )
            await self._supersede(connection, mine, rows)
            await self._signal(connection)

    async def reclaim_expired(self) -> int:
        """Jobs whose worker vanished go back to the queue, or to dead letter if spent."""
        now = self.clock.now()
        expired = and_(jobs.c.status == "running", jobs.c.lease_expires_at < now)
        async with self.database.transaction() as connection:
            return await self._reclaim(connection, expired, "lease expired", now)

    async def _reclaim(
        self, connection: AsyncConnection, lost: Any, reason: str, now: datetime
    ) -> int:
        """Give the running jobs matching ``lost`` back to the queue (dead letter if spent)."""
        spent = await connection.execute(
            update(jobs)
            .where(lost, jobs.c.attempts >= jobs.c.max_attempts)
            .values(
                status="dead",
                last_error=f"{reason} on the last attempt (worker lost)",
                worker_id=None,
                lease_expires_at=None,
                updated_at=now,
            )
        )
        ids = (await connection.execute(select(jobs.c.id).where(lost))).scalars().all()
        rows = [{"job_id": job_id, "now": now} for job_id in ids]
        if rows:
            this_lost_job = and_(jobs.c.id == bindparam("job_id"), lost)
            await connection.execute(
                update(jobs)
                .where(this_lost_job, _no_pending_twin())
                .values(
                    status="scheduled",
                    run_at=now,
                    last_error=f"{reason} (worker lost)",
                    worker_id=None,
                    lease_expires_at=None,
                    updated_at=now,
                ),
                rows,
            )
            await self._supersede(connection, this_lost_job, rows)
            await self._signal(connection)
        return int(spent.rowcount) + len(rows)

    # -- worker registry (liveness.py) -----------------------------------------------------

    async def register_worker(self, worker_id: str) -> None:
        now = self.clock.now()
        async with self.database.transaction() as connection:
            await connection.execute(delete(workers).where(workers.c.id == worker_id))
            await connection.execute(
                insert(workers).values(
                    id=worker_id,
                    hostname=socket.gethostname()[:255],
                    host_key=host_identity(),
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )

    async def heartbeat(self, worker_id: str) -> bool:
        """Refresh the worker's heartbeat; False when it was declared dead meanwhile."""
        async with self.database.transaction() as connection:
            result = await connection.execute(
                update(workers)
                .where(workers.c.id == worker_id)
                .values(heartbeat_at=self.clock.now())
            )
        return bool(result.rowcount)

    async def unregister_worker(self, worker_id: str) -> None:
        async with self.database.transaction() as connection:
            await connection.execute(delete(workers).where(workers.c.id == worker_id))

    async def reclaim_dead_workers(self, dead_after_seconds: float) -> dict[str, int]:
        """Declare dead the workers that stopped heartbeating (or whose process is gone, on
        this host) and give their running jobs back; returns worker id → jobs reclaimed."""
        now = self.clock.now()
        cutoff = now - timedelta(seconds=dead_after_seconds)
        local = host_identity()
        async with self.database.read() as connection:
            registered = (
                await connection.execute(
                    select(workers.c.id, workers.c.host_key, workers.c.pid, workers.c.heartbeat_at)
                )
            ).all()
        silent = [row.id for row in registered if row.heartbeat_at < cutoff]
        gone = [
            row.id
            for row in registered
            if row.heartbeat_at >= cutoff
            and local is not None
            and row.host_key == local
            and not process_exists(row.pid)
        ]
        if not silent and not gone:
            return {}
        reclaimed: dict[str, int] = {}
        async with self.database.transaction() as connection:
            declared: list[tuple[str, str]] = []
            for worker_id in silent:
                # Only if still silent: a heartbeat that made it in time keeps it alive.
                result = await connection.execute(
                    delete(workers).where(
                        workers.c.id == worker_id, workers.c.heartbeat_at < cutoff
                    )
                )
                if result.rowcount:
                    declared.append(
                        (
                            worker_id,
                            f"worker declared dead (no heartbeat for {dead_after_seconds:g} s)",
                        )
                    )
            for worker_id in gone:
                result = await connection.execute(delete(workers).where(workers.c.id == worker_id))
                if result.rowcount:
                    declared.append((worker_id, "worker declared dead (its process is gone)"))
            for worker_id, reason in declared:
                theirs = and_(jobs.c.status == "running", jobs.c.worker_id == worker_id)
                reclaimed[worker_id] = await self._reclaim(connection, theirs, reason, now)
        return reclaimed

    # -- dead letter -----------------------------------------------------------------------

    async def retry_dead(self, job_id: int) -> bool:
        """Start a dead job over with a full set of attempts; False when the job is not dead
        (or a job with its dedupe key is pending already, which will do the same work)."""
        now = self.clock.now()
        async with self.database.transaction() as connection:
            result = await connection.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == "dead", _no_pending_twin())
                .values(status="scheduled", attempts=0, run_at=now, updated_at=now)
            )
            if result.rowcount:
                await self._signal(connection)
        return bool(result.rowcount)

    async def cancel(self, connection: AsyncConnection, *, dedupe_key_prefix: str) -> int:
        """Cancel pending jobs whose dedupe key starts with a prefix, in the caller's transaction."""
        result = await connection.execute(
            update(jobs)
            .where(jobs.c.status == "scheduled", jobs.c.dedupe_key.startswith(dedupe_key_prefix))
            .values(status="cancelled", updated_at=self.clock.now())
        )
        return int(result.rowcount)

    async def get(self, job_id: int) -> Row[Any] | None:
        async with self.database.read() as connection:
            return (await connection.execute(select(jobs).where(jobs.c.id == job_id))).first()

    async def counts(self) -> dict[str, int]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                select(jobs.c.status, func.count()).group_by(jobs.c.status)
            )
            return {status: count for status, count in rows.tuples()}

    # -- periodic schedules ----------------------------------------------------------------

    async def ensure_schedules(self, periodics: Sequence[Periodic]) -> None:
        """Create or update the schedule rows of the periodics declared at start-up."""
        async with self.database.transaction() as connection:
            for periodic in periodics:
                await self.set_schedule(connection, periodic)

    async def set_schedule(self, connection: AsyncConnection, periodic: Periodic) -> datetime:
        """Create or update a schedule in the caller's transaction; returns its next tick.

        An unchanged schedule keeps its next tick. Every worker's scheduler reads the table,
        so a schedule set here (a flow or a sync saved) ticks on every process at once."""
        now = self.clock.now()
        row = (
            await connection.execute(select(schedules).where(schedules.c.name == periodic.name))
        ).first()
        values = {
            "task": periodic.task,
            "queue": self.registry.get(periodic.task).queue,
            "payload": periodic.payload,
            "every_seconds": periodic.every_seconds,
            "cron": periodic.cron,
        }
        first = next_tick(periodic.every_seconds, periodic.cron, now, now)
        if row is None:
            await connection.execute(
                insert_ignoring(connection, schedules).values(
                    name=periodic.name, next_run_at=first, **values
                )
            )
            return first
        if (row.every_seconds, row.cron) == (periodic.every_seconds, periodic.cron):
            return row.next_run_at  # type: ignore[no-any-return]
        await connection.execute(
            update(schedules)
            .where(schedules.c.name == periodic.name)
            .values(next_run_at=first, last_run_at=None, **values)
        )
        return first

    async def drop_schedule(self, connection: AsyncConnection, name: str) -> None:
        """Remove a schedule in the caller's transaction (a tick already queued still runs)."""
        await connection.execute(delete(schedules).where(schedules.c.name == name))

    async def next_run(self, connection: AsyncConnection, name: str) -> datetime | None:
        """When the schedule ticks next, or None when there is no such schedule."""
        value = await connection.execute(
            select(schedules.c.next_run_at).where(schedules.c.name == name)
        )
        return value.scalar()  # type: ignore[no-any-return]

    async def run_due_schedules(self) -> tuple[int, datetime | None]:
        """Enqueue every due tick exactly once; returns (ticks enqueued, next due time).

        Workers race on a compare-and-set of ``next_run_at``: whoever moves it enqueues the
        tick, in the same transaction, and everyone else's update matches no row.
        """
        now = self.clock.now()
        enqueued = 0
        async with self.database.read() as connection:
            due = (
                await connection.execute(select(schedules).where(schedules.c.next_run_at <= now))
            ).all()
        for row in due:
            following = next_tick(row.every_seconds, row.cron, row.next_run_at, now)
            async with self.database.transaction() as connection:
                moved = await connection.execute(
                    update(schedules)
                    .where(schedules.c.name == row.name, schedules.c.next_run_at == row.next_run_at)
                    .values(next_run_at=following, last_run_at=row.next_run_at)
                )
                if moved.rowcount == 1:
                    since = row.last_run_at or previous_tick(
                        row.every_seconds, row.cron, row.next_run_at
                    )
                    payload = {
                        **row.payload,
                        "tick": row.next_run_at.isoformat(),
                        "previous_tick": since.isoformat(),
                        "schedule": row.name,
                    }
                    await self.enqueue(connection, row.task, payload, queue=row.queue)
                    enqueued += 1
        async with self.database.read() as connection:
            soonest = (await connection.execute(select(func.min(schedules.c.next_run_at)))).scalar()
        return enqueued, soonest


def _no_pending_twin() -> Any:
    """True unless another job with this row's dedupe key is already pending."""
    twin = jobs.alias("twin")
    return ~exists().where(
        twin.c.dedupe_key == jobs.c.dedupe_key,
        twin.c.status == "scheduled",
        twin.c.id != jobs.c.id,
    )


def _is_current_attempt() -> Any:
    return and_(
        jobs.c.id == bindparam("job_id"),
        jobs.c.attempts == bindparam("attempt"),
        jobs.c.status == "running",
    )


def _hand_over(pending: tuple[JobTaker, list[Job]]) -> None:
    taker, taken = pending
    try:
        taker.adopt(taken)
    except Exception:
        # Stored leased to the worker: its lease running out gives them back.
        log.exception("queue.hand_over_failed", jobs=len(taken))


# Asking for the rows back in the order given makes SQLAlchemy insert them one by one
# where the database does not promise that order: each row says which it is by its task
# and payload instead (jobs alike in both are alike in all that a taker uses, so which id
# goes to which does not matter).
_INSERT_TAKEN = insert(jobs).returning(jobs.c.id, jobs.c.task, jobs.c.payload)
_INSERT_JOBS = DirectWrite(insert(jobs))


def _ids_in_order(rows: Sequence[dict[str, Any]], inserted: Sequence[Row[Any]]) -> list[int]:
    by_content: dict[tuple[str, bytes], list[int]] = {}
    for row in inserted:
        by_content.setdefault(_content(row.task, row.payload), []).append(row.id)
    return [by_content[_content(row["task"], row["payload"])].pop() for row in rows]


def _content(task: str, payload: Any) -> tuple[str, bytes]:
    return task, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


# Built once: a statement object keeps its cache key, so running it skips rebuilding both.
_DELETE_CURRENT_ATTEMPT = (
    delete(jobs).where(_is_current_attempt()).execution_options(synchronize_session=False)
)
_COMPLETE = DirectWrite(_DELETE_CURRENT_ATTEMPT)


def _clip(error: str | None) -> str | None:
    return None if error is None else error[:_ERROR_LIMIT]


@functools.lru_cache(maxsize=64)
def _claim_statement(queues: tuple[str, ...] | None) -> Any:
    """The claim, built once per set of queues with its values as parameters (``now``,
    ``limit``, ``worker_id``, ``lease_expires_at``): a statement object keeps its compiled
    form's cache key, and building and keying this one took about three times as long as
    running it (docs/scaling.md). A claim runs every few milliseconds per worker."""
    now = bindparam("now", type_=jobs.c.run_at.type)
    due = due_jobs(now, bindparam("limit", type_=Integer), queues)
    return (
        update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(
            status="running",
            attempts=jobs.c.attempts + 1,
            worker_id=bindparam("worker_id"),
            lease_expires_at=bindparam("lease_expires_at"),
            updated_at=now,
        )
        .returning(
            jobs.c.id,
            jobs.c.queue,
            jobs.c.task,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.max_attempts,
            jobs.c.run_at,
            jobs.c.dedupe_key,
        )
    )


def due_jobs(
    now: datetime | BindParameter[datetime],
    limit: int | BindParameter[int],
    queues: Sequence[str] | None,
) -> Select[tuple[int]]:
    """The ids of the first ``limit`` due jobs, earliest first, skipping rows other workers
    hold. It reads ``ix_jobs_due_order`` in order and stops after ``limit`` rows (with a
    queue filter, after ``limit`` rows of those queues), however long the backlog."""
    due = (
        select(jobs.c.id)
        # A literal, not a bound parameter: only then may the planner use the partial
        # indexes, whose condition is this one.
        .where(jobs.c.status == literal_column("'scheduled'"), jobs.c.run_at <= now)
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if queues is not None:
        due = due.where(jobs.c.queue.in_(list(queues)))
    return due
