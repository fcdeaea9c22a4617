"""The backlog of due jobs, cheaply: what lets publishing refuse before it grows unbounded.

Publishing and ingest ask :meth:`DueBacklog.full` on every request, so it never reads the
database itself. It answers from the last count read from the database (every process
sees the same jobs table, so the bound holds across processes and nodes) plus the jobs
this process enqueued since that read (:attr:`JobQueue.enqueued_due`), and starts a new
read in the background once the last one is ``refresh_seconds`` old. The read counts at
most ``limit`` rows of the partial index ``ix_jobs_due``, so it costs the same however
long the backlog is.

Only jobs that are due count: a delivery waiting for its retry time is on schedule, not
behind. Jobs other processes enqueued since the last read are seen at the next one, so
with several processes the backlog can pass the bound by what they add in
``refresh_seconds``; in one process, never by more than one request's fan-out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog
from sqlalchemy import func, literal_column, select

from renkei.clock import Clock
from renkei.queue.manager import JobQueue
from renkei.store.database import Database
from renkei.store.tables import jobs

__all__ = ["DueBacklog"]

log = structlog.get_logger("renkei.queue")


class DueBacklog:
    def __init__(
        self,
        database: Database,
        queue: JobQueue,
        clock: Clock,
        *,
        limit: int,
        refresh_seconds: float = 0.2,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.queue = queue
        self.clock = clock
        self.limit = limit
        """0: no bound."""
        self.refresh_seconds = refresh_seconds
        self.queues: set[str] = set()
        self._monotonic = monotonic
        self._read_at = -float("inf")
        self._counted = 0
        self._enqueued_at_read = 0
        self._reading: asyncio.Task[None] | None = None

    def watch(self, queue: str) -> None:
        """Count this queue's due jobs (a feature whose work events create calls it)."""
        self.queues.add(queue)

    def estimate(self) -> int:
        """Due jobs in the watched queues: the last count plus this process's since."""
        return self._counted + self._enqueued() - self._enqueued_at_read

    def full(self) -> bool:
        """Whether the backlog reached its bound; never waits for the database."""
        if not self.limit or not self.queues:
            return False
        if self._monotonic() - self._read_at >= self.refresh_seconds:
            loop = asyncio.get_running_loop()
            # A read started under another loop (a hub reused by tests) will never finish.
            if self._reading is None or self._reading.get_loop() is not loop:
                self._reading = loop.create_task(self._refresh())
        return self.estimate() >= self.limit

    async def _refresh(self) -> None:
        enqueued = self._enqueued()
        try:
            # At most limit rows: the count costs the same however long the backlog is.
            due = (
                select(literal_column("1"))
                .select_from(jobs)
                .where(
                    jobs.c.status == literal_column("'scheduled'"),
                    jobs.c.queue.in_(sorted(self.queues)),
                    jobs.c.run_at <= self.clock.now(),
                )
                .limit(self.limit)
                .subquery()
            )
            async with self.database.read() as connection:
                counted = int(
                    (await connection.execute(select(func.count()).select_from(due))).scalar_one()
                )
            self._counted, self._enqueued_at_read = counted, enqueued
        except Exception as exc:  # the next request tries again
            log.warning("backlog_count_failed", error=str(exc))
        finally:
            self._read_at = self._monotonic()
            self._reading = None

    def _enqueued(self) -> int:
        return sum(self.queue.enqueued_due.get(name, 0) for name in self.queues)
