"""What does tracing cost? Ingest and delivery with tracing off and on, in the same run.

In one process, on a fresh database: rounds go off, on, sampled, off, on, sampled...
(``--rounds`` times each), so all three see the same machine load. Each round:

1. ``ingest``: ``--concurrency`` tasks store single events through the group committer
   (``hub.ingest.store``, what ``POST /v1/page`` calls) for ``--seconds``: events/s (no
   endpoint takes them: this is ingest alone);
2. ``delivery``: ``--deliveries`` events, each fanned out to one endpoint, delivered by
   the worker (``run_burst``) to a receiver in another process: deliveries/s.

"on" exports every span over OTLP/HTTP to a sink in that other process (it answers 200 to
``/v1/traces``), exactly as with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set; "off" is the default:
no SDK, each hot path tests one flag; "sampled" is "on" with
``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` keeping ``--sample-ratio`` of the events'
traces (whole). Medians of the rounds are reported, with
``flag_check_ns``: what testing the flag costs (an event passes about four such tests on
ingest and three per delivery attempt).

    .venv/bin/python bench/tracing.py                       # SQLite
    .venv/bin/python bench/tracing.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

Prints one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.observability import tracing
from renkei.security.keyring import generate_key
from renkei.settings import Settings
from renkei.usecases import LOCAL, webhooks

SECRET = "whsec_" + base64.b64encode(b"bench-tracing-signing-secret!").decode()


def _serve(sock: socket.socket) -> None:
    """Answer 200 to everything: webhooks at /hook, spans at /v1/traces."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"", status=200)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", ok)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


@contextlib.contextmanager
def sink() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(sock,), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        process.terminate()
        process.join(10)


@contextlib.asynccontextmanager
async def database(admin_url: str | None, workdir: Path) -> AsyncIterator[str]:
    if admin_url is None:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"renkei_bench_{uuid.uuid4().hex[:8]}"
    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(plain)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    try:
        yield plain.rpartition("/")[0] + f"/{name}"
    finally:
        connection = await asyncpg.connect(plain)
        await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await connection.close()


def _event(event_type: str) -> Event:
    now = datetime.now(UTC)
    return Event(new_id("evt"), event_type, "Order", {"total": 3}, now, now, "src_bench")


async def ingest_round(hub: Hub, concurrency: int, seconds: float) -> float:
    stored = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal stored
        while time.perf_counter() < deadline:
            fresh = await hub.ingest.store([_event("page")])
            stored += len(fresh)  # after the await: ``stored +=`` reads before it

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return stored / (time.perf_counter() - started)


async def delivery_round(hub: Hub, count: int) -> float:
    async with hub.database.transaction() as tx:
        await record_events(hub, tx, [_event("track") for _ in range(count)])
    worker = hub.new_worker(run_schedules=False)
    started = time.perf_counter()
    while await worker.run_burst():
        pass
    return count / (time.perf_counter() - started)


def _tracing_on(url: str, ratio: float | None) -> None:
    """As a process started with OTEL_EXPORTER_OTLP_ENDPOINT (and a ratio sampler) is."""
    sampler = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"} if ratio else {}
    os.environ.update({**sampler, "OTEL_TRACES_SAMPLER_ARG": str(ratio or 1.0)})
    try:
        tracing.configure({"OTEL_EXPORTER_OTLP_ENDPOINT": url})
    finally:
        for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
            os.environ.pop(name, None)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    ratios: dict[str, float | None] = {"off": None, "on": None, "sampled": args.sample_ratio}
    results = {mode: {"ingest": [], "delivery": []} for mode in ratios}
    with sink() as url, tempfile.TemporaryDirectory() as workdir:
        async with database(args.database_url, Path(workdir)) as database_url:
            settings = Settings(
                database_url=database_url,
                secret_key=[generate_key()],
                allow_private_targets=True,
                log_level="warning",
            )
            hub = Hub(settings)
            await hub.start(with_worker=False)
            try:
                await webhooks.create_endpoint(
                    hub,
                    LOCAL,
                    {"name": "bench", "url": url + "/hook", "event_types": ["track"]},
                    secret=SECRET,
                )
                await delivery_round(hub, 100)  # warm-up: pools, caches, statements
                for _ in range(args.rounds):
                    for mode, ratio in ratios.items():
                        if mode != "off":
                            _tracing_on(url, ratio)
                        ingest = await ingest_round(hub, args.concurrency, args.seconds)
                        delivery = await delivery_round(hub, args.deliveries)
                        if mode != "off":
                            await asyncio.to_thread(tracing.shutdown)
                        results[mode]["ingest"].append(ingest)
                        results[mode]["delivery"].append(delivery)
            finally:
                await hub.stop()
    report: dict[str, Any] = {
        "backend": "postgresql" if args.database_url else "sqlite",
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "deliveries_per_round": args.deliveries,
        "sample_ratio": args.sample_ratio,
        "flag_check_ns": round(_flag_check_ns(), 1),
    }
    for kind, unit in (("ingest", "events_per_s"), ("delivery", "deliveries_per_s")):
        off = statistics.median(results["off"][kind])
        figures: dict[str, Any] = {}
        for mode in ratios:
            median = statistics.median(results[mode][kind])
            figures[f"{mode}_{unit}"] = round(median)
            if mode != "off":
                figures[f"{mode}_vs_off"] = round(median / off, 3)
        for mode in ratios:
            figures[f"rounds_{mode}"] = [round(v) for v in results[mode][kind]]
        report[kind] = figures
    return report


def _flag_check_ns(loops: int = 1_000_000) -> float:
    """The cost of ``if tracing.ENABLED:`` with tracing off, loop overhead subtracted."""
    started = time.perf_counter_ns()
    for _ in range(loops):
        if tracing.ENABLED:
            raise AssertionError("tracing is on")
    checked = time.perf_counter_ns() - started
    started = time.perf_counter_ns()
    for _ in range(loops):
        pass
    empty = time.perf_counter_ns() - started
    return max(0.0, (checked - empty) / loops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL server (admin URL); default SQLite")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs")
    parser.add_argument("--seconds", type=float, default=5.0, help="ingest seconds per round")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent ingest clients")
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries per round")
    parser.add_argument(
        "--sample-ratio", type=float, default=0.01, help="the 'sampled' mode's trace ratio"
    )
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
