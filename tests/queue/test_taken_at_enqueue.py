"""Jobs taken at enqueue: a ``take_at_enqueue`` task's job, due now, is stored leased to
this process's running worker and run by it when the transaction commits, without a
claim; never when the transaction rolls back, the worker is behind or it is stopping; and
a crash leaves it to the lease and liveness like any claimed job. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from renkei.backoff import Backoff
from renkei.queue import JobContext, JobQueue, NewJob, TaskRegistry, Worker, WorkerOptions
from renkei.store import Database
from renkei.store.tables import jobs

pytestmark = pytest.mark.timeout(60)


class Runs:
    def __init__(self) -> None:
        self.seen: list[tuple[Any, int, Any]] = []
        self.arrived = asyncio.Event()

    async def take(self, ctx: JobContext) -> None:
        self.seen.append((ctx.payload["n"], ctx.job.attempts, ctx.job.loaded))
        self.arrived.set()


@pytest.fixture
def runs() -> Runs:
    return Runs()


@pytest.fixture
def queue(database: Database, runs: Runs) -> JobQueue:
    registry = TaskRegistry()
    registry.task("test.taken", take_at_enqueue=True)(runs.take)
    registry.task("test.claimed")(runs.take)
    return JobQueue(database, registry, retry=Backoff.from_schedule((1,)))


@pytest.fixture
async def worker(queue: JobQueue) -> AsyncIterator[Worker]:
    # A long poll: a job that runs within a second was not found by a claim.
    worker = Worker(queue, WorkerOptions(poll_interval=30, run_schedules=False))
    running = asyncio.create_task(worker.run())
    for _ in range(200):
        if queue.taker is worker and worker.free_slots():
            break
        await asyncio.sleep(0.01)
    assert queue.taker is worker
    yield worker
    worker.stop()
    await running


async def _rows(database: Database) -> list[Any]:
    async with database.read() as connection:
        query = select(jobs.c.task, jobs.c.status, jobs.c.worker_id, jobs.c.attempts)
        return list((await connection.execute(query)).all())


async def _until(condition: Any) -> None:
    for _ in range(300):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_a_job_enqueued_beside_a_running_worker_runs_there_without_a_claim(
    queue: JobQueue, database: Database, worker: Worker, runs: Runs
) -> None:
    claims = 0
    claim = queue.claim

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal claims
        claims += 1
        return await claim(*args, **kwargs)

    queue.claim = counted  # type: ignore[method-assign]
    async with database.transaction() as tx:
        await queue.enqueue_many(tx, [NewJob("test.taken", {"n": 1}, loaded="at hand")])
        [row] = (await tx.execute(select(jobs.c.status, jobs.c.worker_id, jobs.c.attempts))).all()
        assert (row.status, row.worker_id, row.attempts) == ("running", worker.id, 1)
        assert runs.seen == []  # not before the commit
    await asyncio.wait_for(runs.arrived.wait(), 5)
    assert runs.seen == [(1, 1, "at hand")]
    assert claims == 0
    await _until(lambda: _no_rows(database))


async def _no_rows(database: Database) -> bool:
    return await _rows(database) == []


async def test_a_rolled_back_enqueue_runs_nothing(
    queue: JobQueue, database: Database, worker: Worker, runs: Runs
) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as tx:
            await queue.enqueue_many(tx, [NewJob("test.taken", {"n": 1})])
            raise RuntimeError("rolled back")
    await asyncio.sleep(0.2)
    assert runs.seen == []
    assert await _rows(database) == []


async def test_only_due_jobs_of_taking_tasks_without_a_dedupe_key_are_taken(
    queue: JobQueue, database: Database, worker: Worker, runs: Runs
) -> None:
    later = queue.clock.now().replace(year=2100)
    async with database.transaction() as tx:
        await queue.enqueue_many(
            tx,
            [
                NewJob("test.claimed", {"n": 1}),
                NewJob("test.taken", {"n": 2}, run_at=later),
                NewJob("test.taken", {"n": 3}, dedupe_key="k"),
            ],
        )
    await asyncio.sleep(0.2)
    assert runs.seen == []
    assert sorted((row.task, row.status) for row in await _rows(database)) == [
        ("test.claimed", "scheduled"),
        ("test.taken", "scheduled"),
        ("test.taken", "scheduled"),
    ]


async def test_a_worker_behind_or_stopping_takes_nothing(
    queue: JobQueue, database: Database, runs: Runs
) -> None:
    worker = Worker(queue, WorkerOptions(poll_interval=30, run_schedules=False))
    assert worker.free_slots() == 0  # it has not caught up with the queue yet
    queue.taker = worker
    async with database.transaction() as tx:
        await queue.enqueue_many(tx, [NewJob("test.taken", {"n": 1})])
    worker._caught_up = True
    worker.stop()
    assert queue.taker is None
    async with database.transaction() as tx:
        await queue.enqueue_many(tx, [NewJob("test.taken", {"n": 2})])
    assert [row.status for row in await _rows(database)] == ["scheduled", "scheduled"]
    assert runs.seen == []


async def test_many_jobs_taken_in_one_transaction_each_run_once_with_their_own_data(
    queue: JobQueue, database: Database, worker: Worker, runs: Runs
) -> None:
    new = [NewJob("test.taken", {"n": n % 5}, loaded=f"row {n % 5}") for n in range(30)]
    async with database.transaction() as tx:
        assert await queue.enqueue_many(tx, new) == 30
    await _until(lambda: _ran(runs, 30))
    assert sorted(runs.seen) == sorted((n % 5, 1, f"row {n % 5}") for n in range(30))
    await _until(lambda: _no_rows(database))


async def _ran(runs: Runs, count: int) -> bool:
    return len(runs.seen) >= count


async def test_a_taken_job_whose_worker_died_runs_again_elsewhere(
    queue: JobQueue, database: Database, runs: Runs
) -> None:
    dead = Worker(queue, WorkerOptions(poll_interval=30, run_schedules=False))
    await queue.register_worker(dead.id)
    dead._caught_up = True
    queue.taker = dead
    dead.adopt = lambda taken: None  # type: ignore[method-assign]  # dies before it runs them
    async with database.transaction() as tx:
        await queue.enqueue_many(tx, [NewJob("test.taken", {"n": 7})])
    queue.taker = None
    assert [row.status for row in await _rows(database)] == ["running"]

    reclaimed = await queue.reclaim_dead_workers(dead_after_seconds=-1)
    assert reclaimed == {dead.id: 1}
    survivor = Worker(queue, WorkerOptions(run_schedules=False))
    assert await survivor.run_burst() == 1
    # Claimed now: its second attempt (the lost one counts), with nothing at hand.
    assert runs.seen == [(7, 2, None)]
