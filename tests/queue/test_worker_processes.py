"""Queue guarantees with real worker processes on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from renkei.backoff import Backoff
from renkei.queue import JobQueue, NewJob, TaskRegistry
from renkei.store import Database
from renkei.store.tables import jobs

WORKER = Path(__file__).with_name("worker_main.py")

pytestmark = pytest.mark.slow


class Workers:
    def __init__(self, url: str, out: Path) -> None:
        self.url = url
        self.out = out
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, str(WORKER), self.url, str(self.out), *args])
        self.processes.append(process)
        return process

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines() if self.out.exists() else []

    def ready(self) -> int:
        """How many workers are about to poll (each writes a line first)."""
        ready = self.out.with_suffix(".ready")
        return len(ready.read_text().splitlines()) if ready.exists() else 0

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(database_url, tmp_path / "effects.log")
    yield pool
    pool.stop_all()


def wait_until(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def enqueue(url: str, task: str, count: int, *, per_transaction: int = 1000) -> None:
    async def go() -> None:
        database = Database(url)
        registry = TaskRegistry()
        registry.task(task)(_never_called)
        queue = JobQueue(database, registry, retry=Backoff.from_schedule((1,)))
        try:
            for start in range(0, count, per_transaction):
                end = min(count, start + per_transaction)
                async with database.transaction() as tx:
                    await queue.enqueue_many(
                        tx, [NewJob(task, {"n": n}) for n in range(start, end)]
                    )
        finally:
            await database.dispose()

    asyncio.run(go())


async def _never_called(ctx: object) -> None:
    raise AssertionError


def remaining_jobs(url: str) -> int:
    async def go() -> int:
        database = Database(url)
        try:
            async with database.read() as connection:
                return int(
                    (await connection.execute(select(func.count()).select_from(jobs))).scalar_one()
                )
        finally:
            await database.dispose()

    return asyncio.run(go())


def test_four_worker_processes_drain_ten_thousand_jobs_exactly_once(workers: Workers) -> None:
    for _ in range(4):
        workers.start()
    # All polling before the jobs appear, all at once: a worker that started first could
    # otherwise drain them alone before the others are up.
    wait_until(lambda: workers.ready() == 4)
    enqueue(workers.url, "test.record", 10_000, per_transaction=10_000)
    wait_until(lambda: remaining_jobs(workers.url) == 0)
    workers.stop_all()
    effects = [line.split() for line in workers.lines()]
    done = collections.Counter(int(n) for n, _ in effects)
    assert sorted(done) == list(range(10_000))
    assert max(done.values()) == 1
    assert len({pid for _, pid in effects}) > 1, "the work should have been shared"


def test_a_killed_worker_loses_its_lease_and_the_job_runs_elsewhere(workers: Workers) -> None:
    enqueue(workers.url, "test.slow", 1)
    doomed = workers.start("--lease", "2")
    wait_until(lambda: any(line.startswith("started 0") for line in workers.lines()))
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    workers.start("--lease", "2", "--finish-slow")
    wait_until(lambda: any(line.startswith("finished 0") for line in workers.lines()))
    wait_until(lambda: remaining_jobs(workers.url) == 0)
    starts = [line.split() for line in workers.lines() if line.startswith("started")]
    assert len(starts) == 2
    assert starts[0][2] == str(doomed.pid)
    assert starts[1][2] != str(doomed.pid)


def test_a_periodic_job_runs_once_per_tick_with_three_workers(workers: Workers) -> None:
    for _ in range(3):
        workers.start("--periodic", "0.5")
    wait_until(lambda: len(workers.lines()) >= 11)
    workers.stop_all()
    ticks = [line.split()[0] for line in workers.lines()]
    assert len(ticks) >= 10
    assert len(ticks) == len(set(ticks)), f"a tick ran twice: {ticks}"
    assert ticks == sorted(ticks)


def running_job(url: str) -> tuple[str | None, str | None]:
    async def go() -> tuple[str | None, str | None]:
        database = Database(url)
        try:
            async with database.read() as connection:
                row = (
                    await connection.execute(
                        select(jobs.c.worker_id, jobs.c.last_error).where(
                            jobs.c.status == "running"
                        )
                    )
                ).one()
                return row.worker_id, row.last_error
        finally:
            await database.dispose()

    return asyncio.run(go())


def test_a_surviving_worker_takes_a_killed_workers_job_long_before_its_lease(
    workers: Workers,
) -> None:
    """Issue 21, defect 5: the lease is 10 minutes; the other worker process declares the
    killed one dead (its process is gone) and runs the job again within seconds."""
    enqueue(workers.url, "test.slow", 1)
    doomed = workers.start("--lease", "600")
    wait_until(lambda: any(line.startswith("started 0") for line in workers.lines()))
    survivor = workers.start("--lease", "600")
    wait_until(lambda: workers.ready() == 2)
    started = time.monotonic()
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    wait_until(lambda: len([x for x in workers.lines() if x.startswith("started 0")]) == 2)
    taken_over_after = time.monotonic() - started
    starts = [line.split() for line in workers.lines() if line.startswith("started")]
    assert [pid for _, _, pid in starts] == [str(doomed.pid), str(survivor.pid)]
    worker_id, last_error = running_job(workers.url)
    assert worker_id is not None and f":{survivor.pid}:" in worker_id
    assert last_error == "worker declared dead (its process is gone) (worker lost)"
    print(f"job taken over {taken_over_after:.1f} s after SIGKILL (lease 600 s)")
