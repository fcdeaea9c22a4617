"""Two processes writing one SQLite file: with the write gate (``store/write_gate.py``) and
with SQLite's busy handler alone, interleaved.

Each process runs ``--writers`` coroutines that commit single-row transactions through
``Database.transaction()`` (the path every Renkei write takes), yielding to the event loop
between transactions as a server does, while a ticker measures how late the loop wakes it
(the stall a request would see). Prints one JSON line per run.

    .venv/bin/python bench/write_gate.py [--runs 3] [--transactions 4000] [--processes 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import json
import os
import tempfile
import time

from sqlalchemy import text

import renkei.store.database as store_database
from renkei.store.database import Database


async def create(url: str) -> None:
    database = Database(url)
    async with database.transaction() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    await database.dispose()


async def write(url: str, transactions: int, writers: int) -> dict[str, float]:
    database = Database(url)
    stalls: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            stalls.append(time.perf_counter() - started - 0.001)

    async def writer(count: int) -> None:
        for _ in range(count):
            async with database.transaction() as connection:
                await connection.execute(text("INSERT INTO t (v) VALUES ('x')"))
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(writer(transactions // writers) for _ in range(writers)))
    wall = time.perf_counter() - started
    done.set()
    await ticking
    await database.dispose()
    stalls.sort()
    return {"wall_s": wall, "p99_stall_ms": 1000 * stalls[int(len(stalls) * 0.99)]}


def run(gate: bool, processes: int, transactions: int, writers: int) -> dict[str, object]:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='renkei-gate-')}/bench.db"
    asyncio.run(create(url))
    read_end, write_end = os.pipe()
    children = []
    started = time.perf_counter()
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            if not gate:
                store_database._write_gate = lambda _url: None  # type: ignore[assignment]
            result = asyncio.run(write(url, transactions, writers))
            os.write(write_end, (json.dumps(result) + "\n").encode())
            os._exit(0)
        children.append(pid)
    os.close(write_end)
    for pid in children:
        os.waitpid(pid, 0)
    wall = time.perf_counter() - started
    with os.fdopen(read_end) as results:
        rows = [json.loads(line) for line in results.read().splitlines()]
    return {
        "write_gate": gate,
        "processes": processes,
        "transactions_per_s": round(processes * transactions / wall),
        "p99_loop_stall_ms": round(max(row["p99_stall_ms"] for row in rows), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transactions", type=int, default=4000, help="per process")
    parser.add_argument("--writers", type=int, default=4, help="coroutines per process")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.runs):
        for gate in (True, False):
            print(json.dumps(run(gate, args.processes, args.transactions, args.writers)))


if __name__ == "__main__":
    main()
