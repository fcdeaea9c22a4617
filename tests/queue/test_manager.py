from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from renkei.backoff import Backoff
from renkei.clock import ManualClock
from renkei.queue import (
    JobContext,
    JobQueue,
    Periodic,
    RetryLater,
    TaskRegistry,
    Worker,
    WorkerOptions,
)
from renkei.queue.manager import due_jobs
from renkei.store import Database
from renkei.store.errors import NoConnection
from renkei.store.tables import jobs
from tests.support.plans import sqlite_plan


class Recorder:
    def __init__(self) -> None:
        self.runs: list[dict[str, object]] = []
        self.fail = False

    async def record(self, ctx: JobContext) -> None:
        self.runs.append(dict(ctx.payload))
        if self.fail:
            raise RuntimeError("receiver down")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def queue(database: Database, clock: ManualClock, recorder: Recorder) -> JobQueue:
    registry = TaskRegistry()
    registry.task("test.record")(recorder.record)
    return JobQueue(
        database, registry, retry=Backoff.from_schedule((10, 20, 40), jitter=0), clock=clock
    )


def worker(queue: JobQueue, **options: object) -> Worker:
    return Worker(queue, WorkerOptions(**options))  # type: ignore[arg-type]


async def job_rows(database: Database) -> list[dict[str, object]]:
    async with database.read() as connection:
        return [
            dict(row._mapping) for row in await connection.execute(select(jobs).order_by(jobs.c.id))
        ]


async def test_enqueue_commits_and_rolls_back_with_the_callers_transaction(
    queue: JobQueue, database: Database
) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as tx:
            await queue.enqueue(tx, "test.record", {"n": 1})
            raise RuntimeError("the event failed to store")
    assert await job_rows(database) == []

    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.record", {"n": 2})
    assert [row["payload"] for row in await job_rows(database)] == [{"n": 2}]


async def test_claims_are_disjoint_batches_in_due_order(
    queue: JobQueue, database: Database
) -> None:
    async with database.transaction() as tx:
        for n in range(30):
            await queue.enqueue(tx, "test.record", {"n": n})
    claimers = [Database(database.url) for _ in range(3)]
    try:
        queues = [
            JobQueue(db, queue.registry, retry=queue.retry, clock=queue.clock) for db in claimers
        ]
        batches = await asyncio.gather(
            *(
                q.claim(f"w{i}", limit=10, lease_seconds=30, queues=None)
                for i, q in enumerate(queues)
            )
        )
    finally:
        for db in claimers:
            await db.dispose()
    ids = [job.id for batch in batches for job in batch]
    assert len(ids) == len(set(ids)) == 30
    for batch in batches:
        assert [job.id for job in batch] == sorted(job.id for job in batch)
        assert all(job.attempts == 1 for job in batch)


async def test_delayed_job_waits_for_its_time(
    queue: JobQueue, database: Database, clock: ManualClock, recorder: Recorder
) -> None:
    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.record", {"n": 1}, delay=60)
    assert await worker(queue).run_burst() == 0
    clock.advance(59)
    assert await worker(queue).run_burst() == 0
    clock.advance(1)
    assert await worker(queue).run_burst() == 1
    assert recorder.runs == [{"n": 1}]
    assert await job_rows(database) == []


async def test_failing_job_follows_the_schedule_then_dead_letter_then_manual_retry(
    queue: JobQueue, database: Database, clock: ManualClock, recorder: Recorder
) -> None:
    recorder.fail = True
    start = clock.now()
    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.record", {"n": 1})

    assert await worker(queue).run_burst() == 1
    run_times = [0.0]
    for wait in (10, 20, 40):
        clock.advance(wait - 0.001)
        assert await worker(queue).run_burst() == 0
        clock.advance(0.001)
        assert await worker(queue).run_burst() == 1
        run_times.append(round((clock.now() - start).total_seconds(), 3))
    assert run_times == [0, 10, 30, 70]

    [row] = await job_rows(database)
    assert row["status"] == "dead"
    assert row["attempts"] == 4
    assert "receiver down" in str(row["last_error"])
    clock.advance(days=30)
    assert await worker(queue).run_burst() == 0

    recorder.fail = False
    assert await queue.retry_dead(int(row["id"])) == 1
    assert await worker(queue).run_burst() == 1
    assert len(recorder.runs) == 5
    assert await job_rows(database) == []


async def test_retry_later_overrides_the_schedule(
    queue: JobQueue, database: Database, clock: ManualClock
) -> None:
    async def rate_limited(ctx: JobContext) -> None:
        raise RetryLater("429 Too Many Requests", delay=2, count_attempt=False)

    queue.registry.task("test.rate_limited")(rate_limited)
    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.rate_limited")
    await worker(queue).run_burst()
    [row] = await job_rows(database)
    assert row["status"] == "scheduled"
    assert row["attempts"] == 0
    assert row["run_at"] == clock.now() + timedelta(seconds=2)


async def test_a_job_that_could_not_reach_the_database_keeps_its_attempts(
    queue: JobQueue, database: Database, clock: ManualClock
) -> None:
    calls: list[int] = []

    async def unreached(ctx: JobContext) -> None:
        calls.append(ctx.job.attempts)
        if len(calls) < 3:
            raise NoConnection("no connection: TimeoutError")

    # One attempt only: a failure of its own would kill it at once.
    queue.registry.task("test.unreached", retry=Backoff(attempts=1))(unreached)
    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.unreached")
    for _ in range(3):
        assert await worker(queue).run_burst() == 1
        rows = await job_rows(database)
        clock.advance(1)
    assert calls == [1, 1, 1]
    assert rows == []


async def test_dedupe_key_allows_one_pending_job(
    queue: JobQueue, database: Database, recorder: Recorder
) -> None:
    async with database.transaction() as tx:
        assert await queue.enqueue(tx, "test.record", {"n": 1}, dedupe_key="profile:42")
        assert not await queue.enqueue(tx, "test.record", {"n": 2}, dedupe_key="profile:42")
        assert await queue.enqueue(tx, "test.record", {"n": 3}, dedupe_key="profile:43")
    async with database.transaction() as tx:
        assert not await queue.enqueue(tx, "test.record", {"n": 4}, dedupe_key="profile:42")
    assert [row["payload"] for row in await job_rows(database)] == [{"n": 1}, {"n": 3}]

    claimed = await queue.claim("w", limit=1, lease_seconds=30, queues=None)
    assert [job.payload for job in claimed] == [{"n": 1}]
    async with database.transaction() as tx:
        # Once the job is running, a new change for the same key must be able to queue.
        assert await queue.enqueue(tx, "test.record", {"n": 5}, dedupe_key="profile:42")


async def test_expired_lease_is_reclaimed(
    queue: JobQueue, database: Database, clock: ManualClock
) -> None:
    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.record", {"n": 1})
    [job] = await queue.claim("lost-worker", limit=10, lease_seconds=30, queues=None)
    clock.advance(29)
    assert await queue.reclaim_expired() == 0
    assert await queue.claim("other", limit=10, lease_seconds=30, queues=None) == []
    clock.advance(2)
    assert await queue.reclaim_expired() == 1
    [again] = await queue.claim("other", limit=10, lease_seconds=30, queues=None)
    assert again.id == job.id
    assert again.attempts == 2


async def test_stale_worker_cannot_finish_a_reclaimed_job(
    queue: JobQueue, database: Database, clock: ManualClock
) -> None:
    from renkei.queue.jobs import Finished

    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.record", {"n": 1})
    [stale] = await queue.claim("slow", limit=1, lease_seconds=5, queues=None)
    clock.advance(6)
    await queue.reclaim_expired()
    [current] = await queue.claim("fast", limit=1, lease_seconds=5, queues=None)
    await queue.finish([Finished(stale)])
    [row] = await job_rows(database)
    assert row["worker_id"] == "fast"
    await queue.finish([Finished(current)])
    assert await job_rows(database) == []


async def test_shutdown_releases_unfinished_jobs(queue: JobQueue, database: Database) -> None:
    started = asyncio.Event()

    async def slow(ctx: JobContext) -> None:
        started.set()
        await asyncio.sleep(3600)

    queue.registry.task("test.slow")(slow)
    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.slow")
    w = worker(queue, shutdown_timeout=0.1, poll_interval=0.05)
    running = asyncio.create_task(w.run())
    await asyncio.wait_for(started.wait(), 30)
    w.stop()
    await asyncio.wait_for(running, 30)
    [row] = await job_rows(database)
    assert row["status"] == "scheduled"
    assert row["attempts"] == 0
    assert row["worker_id"] is None


async def test_periodic_ticks_once_however_many_schedulers_race(
    queue: JobQueue, database: Database, clock: ManualClock, recorder: Recorder
) -> None:
    queue.registry.periodic(Periodic("report", "test.record", every_seconds=60))
    racers = [Database(database.url) for _ in range(3)]
    try:
        queues = [JobQueue(db, queue.registry, retry=queue.retry, clock=clock) for db in racers]
        await asyncio.gather(*(q.ensure_schedules(queue.registry.periodics) for q in queues))
        for _ in range(10):
            clock.advance(60)
            enqueued = await asyncio.gather(*(q.run_due_schedules() for q in queues))
            assert sum(count for count, _ in enqueued) == 1
    finally:
        for db in racers:
            await db.dispose()
    await worker(queue).run_burst()
    ticks = [run["tick"] for run in recorder.runs]
    assert len(ticks) == len(set(ticks)) == 10


async def test_missed_ticks_are_skipped_not_replayed(
    queue: JobQueue, database: Database, clock: ManualClock, recorder: Recorder
) -> None:
    queue.registry.periodic(Periodic("sync", "test.record", cron="*/30 * * * *"))
    await queue.ensure_schedules(queue.registry.periodics)
    clock.advance(hours=5)
    assert (await queue.run_due_schedules())[0] == 1
    assert (await queue.run_due_schedules())[0] == 0


async def test_a_retry_is_superseded_by_a_pending_job_with_the_same_key(
    queue: JobQueue, database: Database, clock: ManualClock, recorder: Recorder
) -> None:
    from renkei.queue.jobs import Finished

    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.record", {"n": 1}, dedupe_key="profile:7")
    [running] = await queue.claim("w", limit=1, lease_seconds=30, queues=None)
    async with database.transaction() as tx:
        assert await queue.enqueue(tx, "test.record", {"n": 2}, dedupe_key="profile:7")
    await queue.finish([Finished(running, error="boom", retry_at=clock.now())])
    assert [(r["payload"], r["status"]) for r in await job_rows(database)] == [
        ({"n": 1}, "cancelled"),
        ({"n": 2}, "scheduled"),
    ]

    [second] = await queue.claim("w", limit=1, lease_seconds=30, queues=None)
    async with database.transaction() as tx:
        assert await queue.enqueue(tx, "test.record", {"n": 3}, dedupe_key="profile:7")
    clock.advance(31)
    assert await queue.reclaim_expired() == 1
    statuses = {r["payload"]["n"]: r["status"] for r in await job_rows(database)}  # type: ignore[index]
    assert statuses == {1: "cancelled", 2: "cancelled", 3: "scheduled"}
    assert second.payload == {"n": 2}


async def test_a_claim_reads_the_due_jobs_in_order_instead_of_sorting_the_backlog(
    database: Database, clock: ManualClock
) -> None:
    """The claim's select walks ``ix_jobs_due_order`` and stops at its limit; before, it
    read and sorted every due job on each claim (SQLite shows the plan)."""
    if not database.is_sqlite:
        pytest.skip("the query plan checked is SQLite's")
    for queues in (None, ["deliveries", "default"]):
        details = await sqlite_plan(database, due_jobs(clock.now(), 256, queues))
        assert any("ix_jobs_due_order" in detail for detail in details), details
        assert not any("TEMP B-TREE" in detail for detail in details), details


async def test_a_database_blip_while_the_schedules_are_written_does_not_kill_the_worker(
    queue: JobQueue, database: Database, recorder: Recorder
) -> None:
    """The schedules are written as the worker starts; if the database is away just then,
    the worker must still run (it used to end silently, and nothing was ever sent again)."""
    from renkei.store.errors import DatabaseUnavailable

    queue.registry.periodic(Periodic("report", "test.record", every_seconds=3600))
    ensure = queue.ensure_schedules
    blips = [DatabaseUnavailable("the database went away")]

    async def ensure_after_a_blip(periodics: object) -> None:
        if blips:
            raise blips.pop()
        await ensure(periodics)  # type: ignore[arg-type]

    queue.ensure_schedules = ensure_after_a_blip  # type: ignore[method-assign]
    w = worker(queue, poll_interval=0.05)
    running = asyncio.create_task(w.run())
    try:
        async with database.transaction() as tx:
            await queue.enqueue(tx, "test.record", {"n": 1})
        for _ in range(600):
            if recorder.runs or running.done():
                break
            await asyncio.sleep(0.05)
        assert not running.done(), running.exception()
        assert {"n": 1} in recorder.runs
    finally:
        w.stop()
        await asyncio.wait_for(running, 30)


async def test_a_schedule_set_at_runtime_ticks_once_on_every_process(
    queue: JobQueue, database: Database, clock: ManualClock, recorder: Recorder
) -> None:
    """A flow or sync saved on one process is a schedule every other process's scheduler
    ticks, with no restart, exactly once per tick; dropped, it ticks no more."""
    others = [Database(database.url) for _ in range(2)]
    try:
        queues = [JobQueue(db, queue.registry, retry=queue.retry, clock=clock) for db in others]
        start = clock.now()
        hourly = Periodic("flow:1", "test.record", every_seconds=3600, payload={"n": 1})
        async with database.transaction() as tx:
            assert await queue.set_schedule(tx, hourly) == start + timedelta(hours=1)
        clock.advance(hours=1)
        enqueued = await asyncio.gather(*(q.run_due_schedules() for q in queues))
        assert sum(count for count, _ in enqueued) == 1
        async with database.transaction() as tx:  # saved again unchanged: keeps its tick
            assert await queue.set_schedule(tx, hourly) == start + timedelta(hours=2)
            assert await queue.next_run(tx, "flow:1") == start + timedelta(hours=2)
            await queue.drop_schedule(tx, "flow:1")
            assert await queue.next_run(tx, "flow:1") is None
        clock.advance(hours=1)
        assert sum(count for count, _ in [await q.run_due_schedules() for q in queues]) == 0
    finally:
        for db in others:
            await db.dispose()
    await worker(queue).run_burst()
    assert recorder.runs == [
        {
            "n": 1,
            "tick": (start + timedelta(hours=1)).isoformat(),
            "previous_tick": start.isoformat(),
            "schedule": "flow:1",
        }
    ]


async def test_a_changed_schedule_starts_over_from_now(
    queue: JobQueue, database: Database, clock: ManualClock
) -> None:
    async with database.transaction() as tx:
        await queue.set_schedule(tx, Periodic("sync:1", "test.record", every_seconds=3600))
    clock.advance(minutes=30)
    async with database.transaction() as tx:
        moved = await queue.set_schedule(tx, Periodic("sync:1", "test.record", cron="0 * * * *"))
    assert moved == clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


async def test_retry_dead_says_whether_the_job_was_dead(
    queue: JobQueue, database: Database, recorder: Recorder
) -> None:
    recorder.fail = True
    async with database.transaction() as tx:
        await queue.enqueue(tx, "test.record", {"n": 1}, max_attempts=1)
    await worker(queue).run_burst()
    [row] = await job_rows(database)
    assert row["status"] == "dead"
    job_id = int(str(row["id"]))
    assert await queue.retry_dead(job_id) is True
    assert await queue.retry_dead(job_id) is False  # scheduled now, not dead
    assert await queue.retry_dead(job_id + 1000) is False
    recorder.fail = False
    assert await worker(queue).run_burst() == 1
