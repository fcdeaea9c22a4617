"""Issue 21, defect 5: workers register and heartbeat; a silent worker, or one whose process
is gone, is declared dead and its jobs go back to the queue long before their lease ends;
a worker that heartbeats in time never loses a job. ManualClock, SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import select, update

from renkei.backoff import Backoff
from renkei.clock import ManualClock
from renkei.queue import JobContext, JobQueue, NewJob, TaskRegistry
from renkei.queue.liveness import workers
from renkei.store import Database
from renkei.store.tables import jobs

LEASE = 600.0
DEAD_AFTER = 10.0


async def _noop(ctx: JobContext) -> None:
    return None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(database: Database, clock: ManualClock) -> JobQueue:
    registry = TaskRegistry()
    registry.task("test.noop")(_noop)
    return JobQueue(database, registry, retry=Backoff.from_schedule((1,)), clock=clock)


async def add_jobs(queue: JobQueue, count: int, **fields: Any) -> None:
    async with queue.database.transaction() as tx:
        await queue.enqueue_many(
            tx, [NewJob("test.noop", {"n": n}, **fields) for n in range(count)]
        )


async def job_rows(queue: JobQueue) -> list[Any]:
    async with queue.database.read() as connection:
        return list(await connection.execute(select(jobs).order_by(jobs.c.id)))


async def test_a_silent_worker_is_declared_dead_and_its_jobs_go_back(
    queue: JobQueue, clock: ManualClock
) -> None:
    await add_jobs(queue, 4)
    await queue.register_worker("silent")
    await queue.register_worker("alive")
    assert len(await queue.claim("silent", limit=2, lease_seconds=LEASE, queues=None)) == 2
    assert len(await queue.claim("alive", limit=2, lease_seconds=LEASE, queues=None)) == 2
    clock.advance(DEAD_AFTER - 1)
    assert await queue.heartbeat("alive")
    assert await queue.reclaim_dead_workers(DEAD_AFTER) == {}
    clock.advance(2)
    assert await queue.heartbeat("alive")
    # The lease has 589 s to go: this is the heartbeat, not the lease.
    assert await queue.reclaim_dead_workers(DEAD_AFTER) == {"silent": 2}
    rows = await job_rows(queue)
    back = [row for row in rows if row.status == "scheduled"]
    assert len(back) == 2
    assert all(row.last_error.startswith("worker declared dead (no heartbeat") for row in back)
    assert all(row.worker_id is None and row.attempts == 1 for row in back)
    assert [row.worker_id for row in rows if row.status == "running"] == ["alive", "alive"]
    # The silent worker learns it at its next heartbeat, and nobody else takes its jobs twice.
    assert not await queue.heartbeat("silent")
    assert await queue.reclaim_dead_workers(DEAD_AFTER) == {}
    reclaimed = await queue.claim("alive", limit=10, lease_seconds=LEASE, queues=None)
    assert sorted(job.payload["n"] for job in reclaimed) == sorted(row.payload["n"] for row in back)


async def test_a_heartbeat_in_time_keeps_the_worker_alive(
    queue: JobQueue, clock: ManualClock
) -> None:
    await add_jobs(queue, 1)
    await queue.register_worker("steady")
    await queue.claim("steady", limit=1, lease_seconds=LEASE, queues=None)
    for _ in range(20):
        clock.advance(DEAD_AFTER / 3)
        assert await queue.heartbeat("steady")
        assert await queue.reclaim_dead_workers(DEAD_AFTER) == {}
    assert [row.status for row in await job_rows(queue)] == ["running"]


async def test_a_worker_whose_process_is_gone_is_declared_dead_at_once(
    queue: JobQueue, clock: ManualClock
) -> None:
    """Same host, process gone (a crashed ``renkei serve``): no need to wait for silence."""
    await add_jobs(queue, 3)
    await add_jobs(queue, 1, max_attempts=1)
    await queue.register_worker("crashed")
    async with queue.database.transaction() as tx:
        await tx.execute(
            update(workers).where(workers.c.id == "crashed").values(pid=_a_pid_not_running())
        )
    assert len(await queue.claim("crashed", limit=4, lease_seconds=LEASE, queues=None)) == 4
    assert await queue.reclaim_dead_workers(DEAD_AFTER) == {"crashed": 4}
    rows = await job_rows(queue)
    assert [row.status for row in rows] == ["scheduled", "scheduled", "scheduled", "dead"]
    assert rows[0].last_error == "worker declared dead (its process is gone) (worker lost)"


def _a_pid_not_running() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def test_a_stopped_worker_unregisters(queue: JobQueue) -> None:
    await queue.register_worker("w")
    await queue.unregister_worker("w")
    async with queue.database.read() as connection:
        assert (await connection.execute(select(workers))).all() == []
