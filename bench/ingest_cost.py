"""What does Renkei's own work cost per tracking request, without HTTP? Measure, don't guess.

``bench/ingest.py`` measures the tracking API through uvicorn and wrk; there the server's
work and wrk's share of the two cores mix with Renkei's. This script takes them away: it
builds the app exactly as ``renkei serve`` does (worker included, the same process tuning),
runs its lifespan, and calls the ASGI app directly with in-memory requests from concurrent
clients, each request answered only after its group commit as usual.

- ``track``: single-event ``POST /v1/track`` requests, 64 clients: µs per request;
- ``batch``: ``POST /v1/batch`` with 100 events, 16 clients: µs per event, events/s.

``main_thread_us`` is the CPU time of the event loop's thread per request (or event): the
part the GIL serialises. Comparing it with ``bench/ingest.py``'s bare ASGI app (its server
CPU per request) tells how far a ratio of 0.5 is: at 0.5 a request may cost Renkei no more
than the bare app's own per-request cost on top of the server's.

    .venv/bin/python bench/ingest_cost.py
    .venv/bin/python bench/ingest_cost.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

Nothing goes over the network (the database aside). Prints one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import orjson
import uvloop

BATCH_SIZE = 100


def _sibling(name: str) -> ModuleType:
    """A script of this folder, loaded by path (the folder itself stays off the path)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ingest_bench = _sibling("ingest.py")


def request_scope(path: str, body: bytes, write_key: str) -> dict[str, Any]:
    authorization = b"Basic " + base64.b64encode(f"{write_key}:".encode())
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8787),
        "headers": [
            (b"host", b"127.0.0.1:8787"),
            (b"content-type", b"application/json"),
            (b"authorization", authorization),
            (b"content-length", str(len(body)).encode()),
        ],
    }


class Lifespan:
    """Runs an ASGI app's lifespan the way a server does."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        started = await self.outbox.get()
        if started["type"] != "lifespan.startup.complete":
            raise SystemExit(f"the app did not start: {started}")

    async def __aexit__(self, *_: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        assert self.task is not None
        await self.task


async def drive(
    app: Callable[..., Any], scope: dict[str, Any], body: bytes, requests: int, clients: int
) -> dict[str, Any]:
    """``requests`` calls of ``app`` from ``clients`` concurrent clients; counts the answers."""
    message = {"type": "http.request", "body": body, "more_body": False}
    statuses: dict[int, int] = {}
    remaining = requests

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start":
            statuses[event["status"]] = statuses.get(event["status"], 0) + 1

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await app(dict(scope), receive, send)

    started, main_cpu, cpu = time.perf_counter(), time.thread_time(), time.process_time()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {
        "requests": requests,
        "wall_s": round(wall, 3),
        "main_thread_cpu_s": round(time.thread_time() - main_cpu, 3),
        "process_cpu_percent": round(100 * (time.process_time() - cpu) / wall),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
    }


async def measure(database_url: str, write_key: str, args: argparse.Namespace) -> dict[str, Any]:
    from renkei.api.app import create_app
    from renkei.cli._common import load_settings
    from renkei.hub import Hub

    app = create_app(Hub(load_settings()), with_worker=True, long_running=True)
    track_body = orjson.dumps(ingest_bench.track_body())
    batch = {"batch": [ingest_bench.track_body(number) for number in range(BATCH_SIZE)]}
    batch_body = orjson.dumps(batch)
    track_scope = request_scope("/v1/track", track_body, write_key)
    batch_scope = request_scope("/v1/batch", batch_body, write_key)
    async with Lifespan(app):
        await drive(app, track_scope, track_body, args.track_requests // 5, 64)  # warm-up
        before = await ingest_bench.count_events(database_url)
        track = await drive(app, track_scope, track_body, args.track_requests, 64)
        track["stored_events"] = await ingest_bench.count_events(database_url) - before
        await drive(app, batch_scope, batch_body, args.batch_requests // 5, 16)
        before = await ingest_bench.count_events(database_url)
        batch_run = await drive(app, batch_scope, batch_body, args.batch_requests, 16)
        batch_run["stored_events"] = await ingest_bench.count_events(database_url) - before
    events = args.batch_requests * BATCH_SIZE
    return {
        "track": {
            **track,
            "requests_per_s": round(args.track_requests / track["wall_s"]),
            "wall_us_per_request": round(1e6 * track["wall_s"] / args.track_requests, 1),
            "main_thread_us_per_request": round(
                1e6 * track["main_thread_cpu_s"] / args.track_requests, 1
            ),
        },
        "batch": {
            "events_per_request": BATCH_SIZE,
            **batch_run,
            "events_per_s": round(events / batch_run["wall_s"]),
            "wall_us_per_event": round(1e6 * batch_run["wall_s"] / events, 2),
            "main_thread_us_per_event": round(1e6 * batch_run["main_thread_cpu_s"] / events, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--track-requests", type=int, default=20_000)
    parser.add_argument("--batch-requests", type=int, default=1_000)
    parser.add_argument("--database-url", help="PostgreSQL server (admin URL); default SQLite")
    args = parser.parse_args()
    if not 0 < args.track_requests <= 200_000 or not 0 < args.batch_requests <= 20_000:
        raise SystemExit("keep runs bounded: ≤ 200,000 track and ≤ 20,000 batch requests")

    from renkei.security.keyring import generate_key

    secret_key = generate_key()
    with ingest_bench.workspace(args.database_url, "renkei-ingest-cost-") as (workdir, url):
        write_key = asyncio.run(ingest_bench.prepare(url, secret_key))
        os.environ.update(
            RENKEI_DATABASE_URL=url,
            RENKEI_SECRET_KEY=secret_key,
            RENKEI_LOG_LEVEL="warning",
            RENKEI_LOG_FORMAT="json",
            RENKEI_DATA_DIR=str(workdir),
        )
        result = uvloop.run(measure(url, write_key, args))
    track, batch = result["track"], result["batch"]
    acked_track = track["statuses"].get("200", 0)
    acked_batch = BATCH_SIZE * batch["statuses"].get("200", 0)
    honest = track["stored_events"] >= acked_track and batch["stored_events"] >= acked_batch
    print(
        json.dumps(
            {
                "backend": "postgresql" if args.database_url else "sqlite",
                "cpus": os.cpu_count(),
                "how": "ASGI app called in-process as renkei serve builds it; no HTTP",
                **result,
                "no_ack_without_storage": honest,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
