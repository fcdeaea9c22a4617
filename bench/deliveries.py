"""Outbound webhook delivery: sustained deliveries/s and publish→received latency.

    .venv/bin/python bench/deliveries.py [--backends sqlite,postgresql] [--events 6000]
                                         [--rate 500] [--seconds 8]

Prints one JSON document. Everything runs on this machine and sends to 127.0.0.1 only:

- throughput: events are stored (with their fan-out) while no worker runs, then one
  ``renkei worker`` process delivers them to a fast local receiver (its own process);
  deliveries/s = deliveries / time from the first to the last arrival. Fan-out 1 (one
  endpoint) and fan-out 10 (ten endpoints, a tenth of the events).
- latency: ``renkei serve`` (API + worker in one process) takes ``POST /api/v1/events`` at a
  fixed rate from an open-loop client; latency = arrival at the receiver minus the moment the
  publish request was sent; p50/p99 over every event.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the stdlib module ``queue``: this folder goes last on the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import harness

PG_ADMIN = os.environ.get("RENKEI_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_TOKEN = "rk_admin_bench-token-0123456789abcdef"


def database(backend: str, workdir: Path) -> contextlib.AbstractContextManager[str]:
    return harness.database(PG_ADMIN if backend == "postgresql" else None, workdir)


CONCURRENCY = {"RENKEI_WORKER_CONCURRENCY": "256", "RENKEI_WORKER_BATCH_SIZE": "256"}


def _env(url: str, key: str, workdir: Path) -> dict[str, str]:
    return {
        **CONCURRENCY,
        **os.environ,
        "RENKEI_DATABASE_URL": url,
        "RENKEI_SECRET_KEY": key,
        "RENKEI_ADMIN_TOKEN": ADMIN_TOKEN,
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
        "RENKEI_LOG_LEVEL": "warning",
        "RENKEI_DATA_DIR": str(workdir),
    }


# -- throughput ---------------------------------------------------------------------------


async def _store(url: str, key: str, receiver_url: str, endpoints: int, events: int) -> float:
    """Create the endpoints, then store events with their deliveries; returns events/s."""
    from renkei.delivery.endpoints import create_endpoint
    from renkei.events.envelope import Event
    from renkei.events.log import record_events
    from renkei.hub import Hub
    from renkei.ids import new_id
    from renkei.settings import Settings

    hub = Hub(Settings(database_url=url, secret_key=[key], allow_private_targets=True))
    await hub.start(with_worker=False)
    try:
        async with hub.database.transaction() as tx:
            for n in range(endpoints):
                await create_endpoint(
                    tx,
                    hub.keyring,
                    {"name": f"bench-{n}", "url": receiver_url},
                    now=hub.clock.now(),
                    https_only=False,
                )
        started = time.perf_counter()
        for start in range(0, events, 500):
            now = datetime.now(UTC)
            batch = [
                Event(
                    id=new_id("evt"),
                    type="order.paid",
                    name=None,
                    data={"order_id": f"o-{n}", "amount": n, "currency": "JPY"},
                    occurred_at=now,
                    received_at=now,
                    source_id="api",
                )
                for n in range(start, min(events, start + 500))
            ]
            async with hub.database.transaction() as tx:
                await record_events(hub, tx, batch)
        return events / (time.perf_counter() - started)
    finally:
        await hub.stop()


def throughput(backend: str, workdir: Path, fanout: int, events: int) -> dict[str, Any]:
    from renkei.security.keyring import generate_key

    key = generate_key()
    receiver = harness.ReceiverProcess(workdir, f"{backend}-{fanout}", answer=harness.OK)
    with database(backend, workdir) as url:
        stored_per_second = asyncio.run(_store(url, key, receiver.url, fanout, events // fanout))
        total = (events // fanout) * fanout
        worker = subprocess.Popen(
            [sys.executable, "-m", "renkei", "worker"],
            env=_env(url, key, workdir),
            cwd=workdir,
            stdout=(workdir / f"worker-{backend}-{fanout}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 600
        first: tuple[int, float] | None = None
        try:
            while (received := receiver.received()) < total and time.monotonic() < deadline:
                if first is None and received:
                    first = (received, harness.cpu_seconds([worker.pid]))
                time.sleep(0.01)
            cpu_end = harness.cpu_seconds([worker.pid])
        finally:
            harness.stop(worker)
        arrivals = sorted(at for _, at, _ in receiver.stop())
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    return {
        "fanout": fanout,
        "deliveries": total,
        "delivered": len(arrivals),
        "deliveries_per_second": round((len(arrivals) - 1) / span, 1),
        "events_stored_per_second_with_fanout": round(stored_per_second, 1),
        # The worker's CPU per delivery from the first arrival to the last: steadier than
        # deliveries/s on a machine whose other processes (receiver, database) share the cores.
        "worker_cpu_us_per_delivery": (
            round((cpu_end - first[1]) * 1e6 / (total - first[0]), 1)
            if first is not None and total > first[0]
            else None
        ),
    }


# -- latency ------------------------------------------------------------------------------


async def _publish_at_rate(base_url: str, rate: float, seconds: float) -> dict[str, float]:
    import aiohttp

    sent: dict[str, float] = {}
    errors = 0
    total = int(rate * seconds)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> None:
            nonlocal errors
            event_id = f"evt_bench_{n:07d}"
            body = json.dumps({"type": "order.paid", "id": event_id, "data": {"n": n}})
            sent[event_id] = time.time()
            async with session.post(
                f"{base_url}/api/v1/events", data=body, headers=headers
            ) as response:
                await response.read()
                if response.status != 201:
                    errors += 1

        started = time.perf_counter()
        tasks = []
        for n in range(total):
            # Open loop: request n leaves at n / rate whatever became of the earlier ones.
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    if errors:
        raise RuntimeError(f"{errors} publishes failed")
    return sent


def latency(backend: str, workdir: Path, rate: float, seconds: float) -> dict[str, Any]:
    import httpx

    from renkei.security.keyring import generate_key

    key = generate_key()
    receiver = harness.ReceiverProcess(workdir, f"{backend}-latency", answer=harness.OK)
    with database(backend, workdir) as url:
        port = harness.free_port()
        base_url = f"http://127.0.0.1:{port}"
        log = workdir / f"serve-{backend}.log"
        serve = subprocess.Popen(
            [sys.executable, "-m", "renkei", "serve", "--port", str(port)],
            env={**_env(url, key, workdir), "RENKEI_WORKER_POLL_INTERVAL": "1"},
            cwd=workdir,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            harness.wait_until_up(f"{base_url}/healthz", serve, log, timeout=60)
            created = httpx.post(
                f"{base_url}/api/v1/endpoints",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                json={"name": "bench", "url": receiver.url},
            )
            created.raise_for_status()
            time.sleep(1.5)
            sent = asyncio.run(_publish_at_rate(base_url, rate, seconds))
            deadline = time.monotonic() + 120
            while receiver.received() < len(sent) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            harness.stop(serve)
        arrivals: dict[str, float] = {}
        for webhook_id, at, _ in receiver.stop():
            arrivals.setdefault(webhook_id, at)
    latencies = sorted((arrivals[i] - sent[i]) * 1000 for i in sent if i in arrivals)
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "rate_per_second": rate,
        "events": len(sent),
        "delivered": len(latencies),
        "p50_ms": round(quantiles[49], 1),
        "p99_ms": round(quantiles[98], 1),
        "max_ms": round(latencies[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--events", type=int, default=6000, help="deliveries per throughput run")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    results: dict[str, Any] = {
        "machine": harness.machine(),
        "worker_settings": CONCURRENCY,
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="renkei-bench-") as tmp:
        workdir = Path(tmp)
        for backend in args.backends.split(","):
            results["backends"][backend] = {
                "throughput": [
                    throughput(backend, workdir, fanout, args.events) for fanout in (1, 10)
                ],
                "latency": latency(backend, workdir, args.rate, args.seconds),
            }
    harness.print_json(results)


if __name__ == "__main__":
    main()
