"""The worker loop: claim due jobs in batches, run them concurrently, write results in batches.

One worker per process is enough: it runs up to ``concurrency`` jobs at once on asyncio.
Beside the claim loop run four small loops: the result flusher (group commit of
finished jobs), the lease keeper (extends leases of running jobs and reclaims jobs whose
lease ran out), the heartbeat (keeps this worker registered and declares silent or
vanished workers dead, taking their jobs back: see liveness.py), and the scheduler
(enqueues periodic ticks).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import socket
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from renkei.backoff import Backoff
from renkei.observability.metrics import JOBS_FINISHED
from renkei.queue.errors import GiveUp, RetryLater
from renkei.queue.jobs import Finished, Job
from renkei.queue.manager import JobQueue
from renkei.queue.wakeup import Wakeup, wait_for_event
from renkei.store.errors import NoConnection

_UNREACHED_RETRY_SECONDS = 1.0

log = structlog.get_logger("renkei.worker")


@functools.lru_cache(maxsize=1024)
def _finished(task: str, outcome: str) -> Any:
    # labels() costs several times what counting does; tasks and outcomes are few.
    return JOBS_FINISHED.labels(task, outcome)


@dataclass
class JobContext:
    """What a task function receives."""

    job: Job
    queue: JobQueue
    services: dict[str, Any] = field(default_factory=dict)

    completed: bool = False
    """The task completed the job in a transaction of its own that committed
    (:meth:`JobQueue.complete_in`, then :meth:`committed`): the worker writes nothing."""

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    def committed(self) -> None:
        """The transaction that completed this job (``JobQueue.complete_in``) committed: a
        task that writes its outcome anyway saves the worker a transaction of its own. The
        task must then return normally."""
        self.completed = True

    def now(self) -> datetime:
        return self.queue.clock.now()


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 64
    batch_size: int = 100
    poll_interval: float = 1.0
    lease_seconds: float = 60.0
    shutdown_timeout: float = 20.0
    flush_interval: float = 0.005
    queues: Sequence[str] | None = None
    run_schedules: bool = True
    heartbeat_seconds: float = 2.0
    dead_after_seconds: float = 10.0
    """A worker silent this long is declared dead and its jobs run elsewhere (liveness.py)."""


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        options: WorkerOptions | None = None,
        *,
        wakeup: Wakeup | None = None,
        services: dict[str, Any] | None = None,
    ) -> None:
        self.queue = queue
        self.options = options or WorkerOptions()
        self.wakeup = wakeup or Wakeup()
        self.services = services or {}
        self.id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:64]
        self._running: dict[int, asyncio.Task[None]] = {}
        self._results: list[Finished] = []
        self._results_pending = asyncio.Event()
        self._results_ready = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._caught_up = False  # the last claim found fewer due jobs than it could take
        self._context = contextvars.copy_context()
        self.completed = 0

    def saturated(self) -> bool:
        """Every slot is taken: jobs enqueued now wait unless another worker takes them."""
        return len(self._running) >= self.options.concurrency

    def stop(self) -> None:
        """Stop claiming; in-flight jobs are finished or released by :meth:`run`."""
        self._stopping.set()
        self._stop_taking()
        self.wakeup.notify()

    # -- jobs taken at enqueue (JobQueue.enqueue_many) -------------------------------------

    @property
    def lease_seconds(self) -> float:
        return self.options.lease_seconds

    def free_slots(self) -> int:
        # Behind, new jobs wait their turn: taking them at enqueue would let them pass the
        # due jobs before them for as long as publishing keeps every slot busy.
        if not self._caught_up or self._stopping.is_set():
            return 0
        return self.options.concurrency - len(self._running)

    def adopt(self, taken: Sequence[Job]) -> None:
        for job in taken:
            # In the worker's context, not the enqueuing request's (its trace, its logs).
            self._running[job.id] = asyncio.create_task(
                self._execute(job), context=self._context.copy()
            )

    def _stop_taking(self) -> None:
        if self.queue.taker is self:
            self.queue.taker = None

    async def run(self) -> None:
        self._context = contextvars.copy_context()
        log.info("worker.started", worker_id=self.id, concurrency=self.options.concurrency)
        try:
            await self.queue.register_worker(self.id)
        except Exception:
            # The database is away: the claim loop waits for it; the heartbeat registers.
            log.exception("worker.register_failed")
        else:
            if self.queue.taker is None and not self._stopping.is_set():
                self.queue.taker = self
        # Before claiming: a restarted process takes back its previous incarnation's jobs now.
        await self._declare_dead_workers()
        helpers = [
            asyncio.create_task(self._flush_results(), name="renkei-results"),
            asyncio.create_task(self._keep_leases(), name="renkei-leases"),
            asyncio.create_task(self._heartbeat(), name="renkei-heartbeat"),
        ]
        if self.options.run_schedules and self.queue.registry.periodics:
            helpers.append(asyncio.create_task(self._schedule(), name="renkei-scheduler"))
        try:
            await self._claim_loop()
        finally:
            self._stop_taking()
            await self._drain()
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._write_results()
            try:
                await self.queue.unregister_worker(self.id)
            except Exception:
                log.exception("worker.unregister_failed")
            log.info("worker.stopped", worker_id=self.id, completed=self.completed)

    async def run_burst(self) -> int:
        """Run every job that is due now, then return how many ran (tests, ``--burst``)."""
        total = 0
        while claimed := await self.queue.claim(
            self.id,
            limit=self.options.batch_size,
            lease_seconds=self.options.lease_seconds,
            queues=self.options.queues,
        ):
            results = await asyncio.gather(*(self._run_task(job) for job in claimed))
            await self.queue.finish([r for r in results if r is not None])
            total += len(claimed)
        return total

    async def _claim_loop(self) -> None:
        options = self.options
        while not self._stopping.is_set():
            free = options.concurrency - len(self._running)
            if free <= 0:
                self._slot_free.clear()
                await self._wait(self._slot_free, options.poll_interval)
                continue
            try:
                claimed = await self.queue.claim(
                    self.id,
                    limit=min(free, options.batch_size),
                    lease_seconds=options.lease_seconds,
                    queues=options.queues,
                )
            except Exception:
                log.exception("worker.claim_failed")
                await self._wait(self._stopping, options.poll_interval)
                continue
            for job in claimed:
                self._running[job.id] = asyncio.create_task(self._execute(job))
            self._caught_up = len(claimed) < min(free, options.batch_size)
            if self._caught_up:
                await self.wakeup.wait(options.poll_interval)

    async def _wait(self, event: asyncio.Event, timeout: float) -> None:
        await wait_for_event(event, timeout)

    async def _execute(self, job: Job) -> None:
        try:
            result = await self._run_task(job)
        finally:
            self._running.pop(job.id, None)
            self._slot_free.set()
        if result is not None and not result.written:
            self._results.append(result)
            self._results_pending.set()
            if len(self._results) >= self.options.batch_size:
                self._results_ready.set()

    async def _run_task(self, job: Job) -> Finished | None:
        result = await self._attempt(job)
        if result is not None:
            outcome = "succeeded" if result.error is None else "dead" if result.dead else "retried"
            _finished(job.task, outcome).inc()
            if result.dead:
                await self._dead_letter(job, result.error or "failed")
        return result

    async def _dead_letter(self, job: Job, error: str) -> None:
        """Run the task's ``on_dead`` hook: what the job belonged to shows that it failed."""
        task = self.queue.registry.find(job.task)
        if task is None or task.on_dead is None:
            return
        try:
            await task.on_dead(JobContext(job, self.queue, self.services), error)
        except Exception:
            log.exception("job.dead_letter_hook_failed", job_id=job.id, task=job.task)

    async def _attempt(self, job: Job) -> Finished | None:
        now = self.queue.clock.now()
        context = JobContext(job, self.queue, self.services)
        try:
            task = self.queue.registry.get(job.task)
            await task.function(context)
        except asyncio.CancelledError:
            return None
        except RetryLater as exc:
            retry_at = exc.at or now + timedelta(seconds=exc.delay or 0)
            if job.is_last_attempt and exc.count_attempt:
                return Finished(job, error=str(exc), dead=True)
            return Finished(
                job, error=str(exc), retry_at=retry_at, refund_attempt=not exc.count_attempt
            )
        except GiveUp as exc:
            return Finished(job, error=f"gave up: {exc}", dead=True)
        except Exception as exc:
            error = "".join(traceback.format_exception_only(exc)).strip()
            log.warning(
                "job.failed", job_id=job.id, task=job.task, attempt=job.attempts, error=error
            )
            if isinstance(exc, NoConnection):
                return self._unreached(job, error, now)
            return self._failure(job, error, now)
        self.completed += 1
        return Finished(job, written=context.completed)

    def _retry_policy(self, job: Job) -> Backoff:
        task = self.queue.registry.find(job.task)
        return (task.retry if task else None) or self.queue.retry

    def _failure(self, job: Job, error: str, now: datetime) -> Finished:
        delay = self._retry_policy(job).delay(job.attempts)
        if delay is None or job.is_last_attempt:
            return Finished(job, error=error, dead=True)
        return Finished(job, error=error, retry_at=now + timedelta(seconds=delay))

    def _unreached(self, job: Job, error: str, now: datetime) -> Finished:
        """The database was out of reach, the job not at fault: its attempt is given back
        and it runs again soon, so a database away for a while kills no job."""
        delay = self._retry_policy(job).delay(1) or _UNREACHED_RETRY_SECONDS
        return Finished(
            job, error=error, retry_at=now + timedelta(seconds=delay), refund_attempt=True
        )

    async def _flush_results(self) -> None:
        # Asleep until a result waits; then a full batch, or flush_interval, whichever
        # comes first. (Waking every flush_interval to look was half the CPU of an idle
        # process.)
        while True:
            await self._results_pending.wait()
            await self._wait(self._results_ready, self.options.flush_interval)
            self._results_pending.clear()
            self._results_ready.clear()
            await self._write_results()

    async def _write_results(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            await self.queue.finish(batch)
        except Exception:
            # The jobs stay leased; when the lease runs out another worker runs them again.
            log.exception("worker.finish_failed", jobs=len(batch))

    async def _keep_leases(self) -> None:
        interval = self.options.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.queue.extend_leases(
                    self.id, list(self._running), self.options.lease_seconds
                )
                reclaimed = await self.queue.reclaim_expired()
                if reclaimed:
                    log.warning("worker.reclaimed_expired_jobs", count=reclaimed)
            except Exception:
                log.exception("worker.lease_upkeep_failed")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_seconds)
            try:
                if not await self.queue.heartbeat(self.id):
                    await self._declared_dead()
                await self._declare_dead_workers()
            except Exception:
                log.exception("worker.heartbeat_failed")

    async def _declare_dead_workers(self) -> None:
        try:
            reclaimed = await self.queue.reclaim_dead_workers(self.options.dead_after_seconds)
        except Exception:
            log.exception("worker.liveness_check_failed")
            return
        for worker_id, count in reclaimed.items():
            log.warning("worker.declared_dead", dead_worker_id=worker_id, reclaimed=count)

    async def _declared_dead(self) -> None:
        """Another worker found this one silent for too long and took its jobs: they are
        someone else's now, so stop them (their results would be ignored anyway) before
        registering again."""
        mine = list(self._running.values())
        log.error(
            "worker.was_declared_dead",
            worker_id=self.id,
            running=len(mine),
            dead_after_seconds=self.options.dead_after_seconds,
        )
        for running in mine:
            running.cancel()
        await asyncio.gather(*mine, return_exceptions=True)
        await self.queue.register_worker(self.id)

    async def _schedule(self) -> None:
        await self._ensure_schedules()
        while True:
            try:
                _, soonest = await self.queue.run_due_schedules()
            except Exception:
                log.exception("worker.schedule_failed")
                soonest = None
            wait = self.options.poll_interval
            if soonest is not None:
                until = (soonest - self.queue.clock.now()).total_seconds()
                wait = min(wait, max(until, 0.01))
            await asyncio.sleep(wait)

    async def _ensure_schedules(self) -> None:
        """Write the schedules, however long the database takes to come back: a worker that
        died of a blip at start would leave its process serving requests with nothing
        sending what they accept."""
        while True:
            try:
                await self.queue.ensure_schedules(self.queue.registry.periodics)
                return
            except Exception:
                log.exception("worker.ensure_schedules_failed")
            await asyncio.sleep(self.options.poll_interval)

    async def _drain(self) -> None:
        # Taken jobs a commit hands over while draining are drained too.
        while self._running:
            await self._drain_running()

    async def _drain_running(self) -> None:
        pending = list(self._running.values())
        _, unfinished = await asyncio.wait(pending, timeout=self.options.shutdown_timeout)
        if unfinished:
            unfinished_ids = [job_id for job_id, t in self._running.items() if t in unfinished]
            for running in unfinished:
                running.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            await self.queue.release(self.id, unfinished_ids)
            log.warning("worker.released_unfinished_jobs", count=len(unfinished_ids))
