"""Job queue throughput: enqueue + claim + complete, with 2 worker processes.

    python bench/queue.py [--jobs 20000] [--backends sqlite,postgresql]

Prints one JSON document. A producer enqueues batches while two worker processes drain
them with a no-op task; jobs/s is jobs divided by the wall time from the first enqueue
to the last completion. Only local databases are used.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the stdlib module ``queue``; keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import tempfile
import time
import uuid

import asyncpg
from sqlalchemy import func, select

from renkei.backoff import Backoff
from renkei.observability.logging import configure_logging
from renkei.queue import (
    JobContext,
    JobQueue,
    NewJob,
    TaskRegistry,
    Worker,
    WorkerOptions,
)
from renkei.queue.runner import run_worker
from renkei.store import Database, migrate
from renkei.store.tables import jobs

PG_ADMIN = os.environ.get("RENKEI_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _noop(ctx: JobContext) -> None:
    return None


def _registry() -> TaskRegistry:
    registry = TaskRegistry()
    registry.task("bench.noop")(_noop)
    return registry


def _worker_process(url: str, batch: int) -> None:
    configure_logging("warning", "json")

    async def go() -> None:
        database = Database(url)
        queue = JobQueue(database, _registry(), retry=Backoff.from_schedule((1,)))
        options = WorkerOptions(concurrency=batch * 2, batch_size=batch, poll_interval=0.05)
        try:
            await run_worker(Worker(queue, options))
        finally:
            await database.dispose()

    asyncio.run(go())


async def _prepare(backend: str, workdir: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        name = None
    else:
        name = f"renkei_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    database = Database(url)
    await migrate(database)
    await database.dispose()
    return url, name


async def _drop(name: str | None) -> None:
    if name:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _produce_and_wait(url: str, total: int, batch: int) -> dict[str, float]:
    database = Database(url)
    queue = JobQueue(database, _registry(), retry=Backoff.from_schedule((1,)))
    started = time.perf_counter()
    for start in range(0, total, batch):
        async with database.transaction() as tx:
            await queue.enqueue_many(
                tx,
                [NewJob("bench.noop", {"n": n}) for n in range(start, min(total, start + batch))],
            )
    enqueued = time.perf_counter()
    while True:
        async with database.read() as connection:
            left = (await connection.execute(select(func.count()).select_from(jobs))).scalar_one()
        if left == 0:
            break
        await asyncio.sleep(0.01)
    finished = time.perf_counter()
    await database.dispose()
    return {"enqueue_seconds": enqueued - started, "total_seconds": finished - started}


def run(backend: str, total: int, batch: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as workdir:
        url, name = asyncio.run(_prepare(backend, Path(workdir)))
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_worker_process, args=(url, batch)) for _ in range(2)]
        for worker in workers:
            worker.start()
        time.sleep(2.0)  # let both workers connect before the clock starts
        try:
            timing = asyncio.run(_produce_and_wait(url, total, batch))
        finally:
            for worker in workers:
                worker.terminate()
                worker.join(30)
            asyncio.run(_drop(name))
    return {
        "backend": backend,
        "jobs": total,
        "workers": 2,
        "batch_size": batch,
        "enqueue_jobs_per_second": round(total / timing["enqueue_seconds"]),
        "jobs_per_second": round(total / timing["total_seconds"]),
        "seconds": round(timing["total_seconds"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results = [run(backend, args.jobs, args.batch) for backend in args.backends.split(",")]
    print(
        json.dumps(
            {
                "benchmark": "queue",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "targets": {"sqlite": 5000, "postgresql": 3000},
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
