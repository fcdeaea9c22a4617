"""Workers wake on new jobs without waiting for their poll interval."""

from __future__ import annotations

import asyncio

import pytest

from renkei.backoff import Backoff
from renkei.queue import JobContext, JobQueue, TaskRegistry, Worker, WorkerOptions
from renkei.queue.runner import run_worker
from renkei.queue.wakeup import Wakeup, wait_for_event
from renkei.store import Database

LONG_POLL = 600.0  # far longer than the test waits: only a wake-up can get the job run


async def test_a_worker_wakes_when_a_job_is_enqueued(database: Database) -> None:
    done = asyncio.Event()

    async def record(ctx: JobContext) -> None:
        done.set()

    registry = TaskRegistry()
    registry.task("test.wake")(record)
    worker_queue = JobQueue(database, registry, retry=Backoff.from_schedule((1,)))
    worker = Worker(worker_queue, WorkerOptions(poll_interval=LONG_POLL, lease_seconds=30))
    running = asyncio.create_task(run_worker(worker, handle_signals=False))
    await asyncio.sleep(0.5)  # let the worker finish its first (empty) claim and start waiting

    # On PostgreSQL enqueue from a separate engine, as another node would: only NOTIFY can
    # reach the worker. On SQLite the producer is in-process and the commit hook wakes it.
    producer_db = database if database.is_sqlite else Database(database.url)
    producer = JobQueue(producer_db, registry, retry=Backoff.from_schedule((1,)))
    try:
        async with producer_db.transaction() as tx:
            await producer.enqueue(tx, "test.wake")
        await asyncio.wait_for(done.wait(), timeout=60)
    finally:
        worker.stop()
        await running
        if producer_db is not database:
            await producer_db.dispose()


async def test_a_wait_cancelled_as_its_event_is_set_still_ends() -> None:
    """Python 3.11's ``asyncio.wait_for`` returns normally in this race, swallowing the
    cancellation; a worker's helper loop built on it never ended and the worker process
    outlived SIGTERM."""
    event = asyncio.Event()
    wakeup = Wakeup()
    for wait, release in (
        (wait_for_event(event, 600), event.set),
        (wakeup.wait(600), wakeup.notify),
    ):
        waiting = asyncio.create_task(wait)
        await asyncio.sleep(0)  # now waiting
        release()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting


async def test_a_wait_ends_at_its_timeout_or_when_the_event_is_set() -> None:
    event = asyncio.Event()
    started = asyncio.get_running_loop().time()
    await wait_for_event(event, 0.05)
    assert asyncio.get_running_loop().time() - started >= 0.05
    asyncio.get_running_loop().call_later(0.01, event.set)
    await wait_for_event(event, 600)
    assert event.is_set()
