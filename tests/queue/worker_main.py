"""A worker process for the multi-process queue tests.

    python tests/queue/worker_main.py URL OUT_FILE [--lease S] [--periodic S]

Task ``test.record`` appends ``<n> <pid>`` to OUT_FILE; ``test.slow`` writes ``started <n>``
and then waits an hour, unless this process was started with ``--finish-slow``. Before it
polls, each process appends its pid to OUT_FILE with the suffix ``.ready``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from renkei.backoff import Backoff
from renkei.queue import (
    JobContext,
    JobQueue,
    Periodic,
    TaskRegistry,
    Worker,
    WorkerOptions,
)
from renkei.queue.runner import run_worker
from renkei.store import Database


def build_registry(out: Path, finish_slow: bool) -> TaskRegistry:
    registry = TaskRegistry()
    sink = out.open("a", buffering=1)

    @registry.task("test.record")
    async def record(ctx: JobContext) -> None:
        sink.write(f"{ctx.payload.get('n', ctx.payload.get('tick'))} {os.getpid()}\n")

    @registry.task("test.slow")
    async def slow(ctx: JobContext) -> None:
        sink.write(f"started {ctx.payload['n']} {os.getpid()}\n")
        if not finish_slow:
            await asyncio.sleep(3600)
        sink.write(f"finished {ctx.payload['n']} {os.getpid()}\n")

    return registry


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--lease", type=float, default=60)
    parser.add_argument("--periodic", type=float)
    parser.add_argument("--finish-slow", action="store_true")
    args = parser.parse_args()

    registry = build_registry(args.out, args.finish_slow)
    if args.periodic:
        registry.periodic(Periodic("tick", "test.record", every_seconds=args.periodic))
    database = Database(args.url)
    queue = JobQueue(database, registry, retry=Backoff.from_schedule((1,)))
    options = WorkerOptions(lease_seconds=args.lease, poll_interval=0.2, shutdown_timeout=5)
    with args.out.with_suffix(".ready").open("a") as ready:
        ready.write(f"{os.getpid()}\n")
    try:
        await run_worker(Worker(queue, options))
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
