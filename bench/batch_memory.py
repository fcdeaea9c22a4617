"""How much memory does ``renkei serve`` hold after batches of every size?

The ingest bench sends batches of one size; SDKs do not (a batch holds what was queued when
it flushed). This script starts the default ``renkei serve`` (every process it starts by
default) on a fresh database with a tracking source, posts ``/v1/batch`` with every batch
size from 1 to ``--largest`` events, ``--repeat`` times each in a shuffled order, 8 requests
at a time, and prints the RSS and PSS of all its processes, idle and after. Loopback only;
bounded by the number of requests.

    .venv/bin/python bench/batch_memory.py [--largest 500] [--repeat 3]

Prints one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: this folder goes last on the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

import argparse
import asyncio
import base64
import os
import random
import shutil
import tempfile
import time
from typing import Any

import harness
import httpx
from harness import count_events, descendants, memory_mb
from ingest import prepare, server, track_body


async def post_batches(port: int, write_key: str, sizes: list[int]) -> int:
    """Every batch of ``sizes``, 8 at a time; returns how many events were acked."""
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    acked = 0
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": auth}, timeout=60
    ) as client:

        async def post(number: int, size: int) -> None:
            nonlocal acked
            batch = [
                {
                    **track_body(number * 1000 + k),
                    "messageId": f"m{number}-{k}",
                    "userId": f"user-{(number * 31 + k) % 5000}",
                }
                for k in range(size)
            ]
            async with gate:
                answer = await client.post("/v1/batch", json={"batch": batch})
            answer.raise_for_status()
            acked += size

        await asyncio.gather(*(post(number, size) for number, size in enumerate(sizes)))
    return acked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--largest", type=int, default=500, help="largest batch (≤ 500)")
    parser.add_argument("--repeat", type=int, default=3, help="batches of each size (≤ 10)")
    args = parser.parse_args()
    largest, repeat = max(1, min(args.largest, 500)), max(1, min(args.repeat, 10))
    sizes = [size for size in range(1, largest + 1) for _ in range(repeat)]
    random.Random(7).shuffle(sizes)

    from renkei.security.keyring import generate_key

    workdir = Path(tempfile.mkdtemp(prefix="renkei-batch-memory-"))
    url, secret_key = f"sqlite:///{workdir / 'renkei.db'}", generate_key()
    write_key = asyncio.run(prepare(url, secret_key))
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": url,
        "RENKEI_SECRET_KEY": secret_key,
        "RENKEI_DATA_DIR": str(workdir),
        "RENKEI_LOG_LEVEL": "warning",
    }
    with server([sys.executable, "-m", "renkei", "serve"], env, workdir, "serve") as (port, pid):
        time.sleep(1)  # the children finish starting (workers, schedulers)
        idle = memory_mb(descendants(pid))
        started = time.monotonic()
        acked = asyncio.run(post_batches(port, write_key, sizes))
        wall = time.monotonic() - started
        after = memory_mb(descendants(pid))
        processes = len(descendants(pid))
    stored = asyncio.run(count_events(url))
    result: dict[str, Any] = {
        "machine": harness.machine(),
        "server": "renkei serve (default processes), SQLite",
        "processes": processes,
        "batches": len(sizes),
        "batch_sizes": f"1..{largest}, {repeat} of each, shuffled, 8 at a time",
        "events_acked": acked,
        "events_stored": stored,
        "seconds": round(wall, 1),
        "memory_mb": {
            "idle": {"rss": idle[0], "pss": idle[1]},
            "after": {"rss": after[0], "pss": after[1]},
        },
    }
    harness.print_json(result)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
