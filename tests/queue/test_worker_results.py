"""The worker writes finished jobs' results in batches: asleep while nothing finishes, then
within ``flush_interval`` of the first result or at once when a batch is full. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from renkei.backoff import Backoff
from renkei.queue import JobContext, JobQueue, NewJob, TaskRegistry, Worker, WorkerOptions
from renkei.store import Database
from renkei.store.tables import jobs


async def _noop(ctx: JobContext) -> None:
    return None


@pytest.fixture
def queue(database: Database) -> JobQueue:
    registry = TaskRegistry()
    registry.task("test.noop")(_noop)
    return JobQueue(database, registry, retry=Backoff.from_schedule((1,)))


async def _pending(queue: JobQueue) -> int:
    async with queue.database.read() as connection:
        return int((await connection.execute(select(func.count()).select_from(jobs))).scalar_one())


async def test_an_idle_worker_does_not_wake_to_write_results(queue: JobQueue) -> None:
    worker = Worker(queue, WorkerOptions(poll_interval=0.05, run_schedules=False))
    flushes = 0
    write_results = worker._write_results

    async def counted() -> None:
        nonlocal flushes
        flushes += 1
        await write_results()

    worker._write_results = counted  # type: ignore[method-assign]
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)  # 60 turns of a 5 ms poll
        assert flushes == 0

        async with queue.database.transaction() as tx:
            await queue.enqueue_many(tx, [NewJob("test.noop", {"n": n}) for n in range(3)])
        worker.wakeup.notify()
        for _ in range(400):
            if await _pending(queue) == 0:
                break
            await asyncio.sleep(0.025)
        assert await _pending(queue) == 0
        assert 1 <= flushes <= 3
    finally:
        worker.stop()
        await running
