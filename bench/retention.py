"""Does expiry hold up ingest? Measure, don't guess (issue 20, retention).

A fresh database is seeded with ``--events`` (1,000,000) events received 100 days ago,
past ``RENKEI_RETENTION_EVENTS_DAYS`` (90). One ``renkei serve`` (its periodic retention
pushed out of the way) takes tracking events from wrk on 127.0.0.1 (``POST /v1/track``,
one event per request, answered after its commit, as ``bench/ingest.py`` drives it) in
three windows of ``--duration`` seconds, in the same run:

1. ``before``: ingest alone;
2. ``during``: ingest while ``retention.expire`` (the job the periodic runs, in its own
   process like a second worker, ``RENKEI_RETENTION_BATCH_SIZE`` rows per transaction)
   deletes the expired events; the job is started just before wrk;
3. ``after``: ingest alone again, once the job has finished.

Reported: each window's requests/s and p50/p90/p99, ``during`` against the mean of
``before`` and ``after``, and the job's time and rows/s (``job_outlasted_window`` says
whether wrk's window was all inside the job; if not, raise ``--events`` or lower
``--duration``). After the job no expired event is left and every acknowledged event is
stored.

    .venv/bin/python bench/retention.py                     # SQLite, 1,000,000 events
    .venv/bin/python bench/retention.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

``--mode partitions`` (PostgreSQL, where events are partitioned by week, migration 0028)
compares the two ways expiry takes on PostgreSQL, in the same run and under the same
ingest: ``before`` (ingest alone); ``during_drop``, while the job drops a whole expired
week of ``--events`` events (a partition); ``during_batched``, while it deletes as many
expired events batch by batch from a week it cannot drop (the week also holds an event of
a type kept a year, ``RENKEI_RETENTION_EVENT_TYPES``); ``after`` (ingest alone). Each job's
seconds, events/s and the server's CPU are reported beside ingest's rate and p99:

    .venv/bin/python bench/retention.py --mode partitions --events 200000 \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres

Needs wrk (Debian: ``apt-get install -y wrk``). Prints one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: keep this folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any


def _load_ingest_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ingest", HERE / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_ingest_bench()

SEED_BATCH = 20_000
EXPIRED_AGE = timedelta(days=100)


async def seed(
    url: str,
    count: int,
    *,
    age: timedelta = EXPIRED_AGE,
    prefix: str = "seed",
    name: str = "Order Completed",
) -> float:
    """Insert ``count`` expired events straight into the log; returns the seconds taken."""
    from sqlalchemy import insert

    from renkei.store import Database
    from renkei.store.tables import events

    received = datetime.now(UTC) - age
    data = {"order_id": "o-1001", "total": 42.5, "currency": "EUR"}
    # Unbounded statements: a 20,000-row insert may outlast the 5 s default on a busy machine.
    database = Database(url, statement_timeout=None)
    started = time.perf_counter()
    try:
        for start in range(0, count, SEED_BATCH):
            rows = [
                {
                    "id": f"{prefix}-{n:08d}",
                    "type": "track",
                    "name": name,
                    "source_id": "src_seed",
                    "user_id": f"user-{n % 1000}",
                    "data": data,
                    "occurred_at": received,
                    "received_at": received,
                }
                for n in range(start, min(count, start + SEED_BATCH))
            ]
            async with database.transaction() as tx:
                await tx.execute(insert(events), rows)
    finally:
        await database.dispose()
    return time.perf_counter() - started


async def expired_left(url: str) -> int:
    from sqlalchemy import func, select

    from renkei.store import Database
    from renkei.store.tables import events

    database = Database(url)
    try:
        async with database.read() as connection:
            query = select(func.count()).select_from(events).where(events.c.id.like("seed-%"))
            query = query.where(events.c.id.not_like("seed-kept-%"))
            return int((await connection.execute(query)).scalar_one())
    finally:
        await database.dispose()


async def run_job() -> None:
    """``--job``: one ``retention.expire`` run with the environment's settings (a child)."""
    from renkei.hub import Hub
    from renkei.operations.retention import expire
    from renkei.settings import Settings

    hub = Hub(Settings())
    started = time.perf_counter()
    try:
        counts = await expire(hub)
    finally:
        await hub.stop()
    print(json.dumps({"seconds": time.perf_counter() - started, "counts": counts}))


async def make_partitions(url: str, *ages: timedelta) -> None:
    """The weekly partitions of the seeded events' weeks (maintenance makes them ahead of
    the clock; these lie in the past)."""
    from renkei.store import Database
    from renkei.store.partitions import create

    database = Database(url)
    try:
        for age in ages:
            for table in ("events", "deliveries", "delivery_attempts"):
                async with database.transaction() as tx:
                    await create(tx, table, datetime.now(UTC) - age)
    finally:
        await database.dispose()


DROP_AGE = timedelta(days=120)  # a week of its own, dropped whole
BATCHED_AGE = timedelta(days=100)  # a week that also holds an event kept a year


def partitions_main(args: argparse.Namespace) -> None:
    """``--mode partitions``: see the module's docstring."""
    from renkei.security.keyring import generate_key

    if not args.database_url:
        raise SystemExit("--mode partitions needs --database-url (PostgreSQL)")
    secret_key = generate_key()
    with bench.workspace(args.database_url, "renkei-bench-partitions-") as (workdir, database_url):
        write_key = asyncio.run(bench.prepare(database_url, secret_key))
        asyncio.run(make_partitions(database_url, DROP_AGE, BATCHED_AGE))
        # Both weeks before any ingest: batched deletes read events by seq below the first
        # one inside the retention, so the older events must have the lower seqs (as they do
        # when they were ingested first).
        seed_seconds = asyncio.run(
            seed(database_url, args.events, age=BATCHED_AGE, prefix="seed-batched")
        )
        asyncio.run(seed(database_url, 1, age=BATCHED_AGE, prefix="seed-kept", name="Kept A Year"))
        seed_seconds += asyncio.run(
            seed(database_url, args.events, age=DROP_AGE, prefix="seed-drop")
        )
        env = {
            **os.environ,
            "RENKEI_DATABASE_URL": database_url,
            "RENKEI_SECRET_KEY": secret_key,
            "RENKEI_LOG_LEVEL": "warning",
            "RENKEI_LOG_FORMAT": "json",
            "RENKEI_DATA_DIR": str(workdir),
            "RENKEI_RETENTION_INTERVAL_SECONDS": "86400",
            "RENKEI_RETENTION_BATCH_SIZE": str(args.batch_size),
            "RENKEI_RETENTION_EVENT_TYPES": "Kept A Year=365",
        }
        script = bench.lua_script(
            workdir / "track.lua", json.dumps(bench.track_body()).encode(), write_key
        )
        with bench.server([sys.executable, "-m", "renkei", "serve"], env, workdir, "renkei") as (
            port,
            pid,
        ):
            url = f"http://127.0.0.1:{port}/v1/track"
            options = {"connections": args.connections, "threads": 1, "server_pid": pid}

            def window() -> dict[str, Any]:
                return dict(
                    bench.run_wrk(url, script, duration=args.duration, prefix=[], **options)
                )

            def during_job(days: int) -> tuple[dict[str, Any], dict[str, Any], bool]:
                job = subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--job"],
                    env={**env, "RENKEI_RETENTION_EVENTS_DAYS": str(days)},
                    cwd=workdir,
                    stdout=subprocess.PIPE,
                    stderr=(workdir / "job.log").open("ab"),
                )
                run = window()
                outlasted = job.poll() is None
                out, _ = job.communicate()
                if job.returncode != 0:
                    raise SystemExit(
                        f"the job failed:\n{(workdir / 'job.log').read_text()[-3000:]}"
                    )
                return run, json.loads(out), outlasted

            bench.run_wrk(url, script, duration=2.0, prefix=[], **options)  # warm-up
            before = window()
            # 110 days: only the older week has expired, and it is dropped whole.
            during_drop, drop_job, drop_outlasted = during_job(110)
            # 90 days: the younger week has too, but its event kept a year keeps the
            # partition: its other events are deleted batch by batch.
            during_batched, batched_job, batched_outlasted = during_job(90)
            after = window()
        left = asyncio.run(expired_left(database_url))

    def figures(run: dict[str, Any]) -> dict[str, Any]:
        return {
            "requests_per_s": run["requests_per_s"],
            "latency_ms": run["latency_ms"],
            "non_2xx": run["non_2xx"],
            "server_cpu_percent": run["server_cpu_percent"],
        }

    def job(report: dict[str, Any], outlasted: bool) -> dict[str, Any]:
        counts = report["counts"]
        return {
            "seconds": round(report["seconds"], 2),
            "events": counts["events"],
            "partitions_dropped": counts["partitions"],
            "events_per_s": round(counts["events"] / max(report["seconds"], 1e-9)),
            "outlasted_window": outlasted,
        }

    alone_rate = (before["requests_per_s"] + after["requests_per_s"]) / 2
    alone_p99 = (before["latency_ms"]["p99"] + after["latency_ms"]["p99"]) / 2
    print(
        json.dumps(
            {
                "backend": "postgresql",
                "mode": "partitions",
                "cpus": os.cpu_count(),
                "events_per_week_expired": args.events,
                "seed_seconds": round(seed_seconds, 1),
                "expired_left": left,
                "drop_job": job(drop_job, drop_outlasted),
                "batched_job": job(batched_job, batched_outlasted),
                "window_s": args.duration,
                "before": figures(before),
                "during_drop": figures(during_drop),
                "during_batched": figures(during_batched),
                "after": figures(after),
                "rate_vs_alone": {
                    "drop": round(during_drop["requests_per_s"] / alone_rate, 3),
                    "batched": round(during_batched["requests_per_s"] / alone_rate, 3),
                },
                "p99_vs_alone": {
                    "drop": round(during_drop["latency_ms"]["p99"] / alone_p99, 2),
                    "batched": round(during_batched["latency_ms"]["p99"] / alone_p99, 2),
                },
            },
            indent=2,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="expired events seeded")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per window")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1000, help="RENKEI_RETENTION_BATCH_SIZE")
    parser.add_argument("--database-url", help="PostgreSQL server (admin URL); default SQLite")
    parser.add_argument(
        "--mode",
        choices=("batched", "partitions"),
        default="batched",
        help="partitions: drop against batched deletes on PostgreSQL (see above)",
    )
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        asyncio.run(run_job())
        return
    if args.mode == "partitions":
        partitions_main(args)
        return
    from renkei.security.keyring import generate_key

    secret_key = generate_key()
    backend = "postgresql" if args.database_url else "sqlite"
    with bench.workspace(args.database_url, "renkei-bench-retention-") as (workdir, database_url):
        write_key = asyncio.run(bench.prepare(database_url, secret_key))
        seed_seconds = asyncio.run(seed(database_url, args.events))
        env = {
            **os.environ,
            "RENKEI_DATABASE_URL": database_url,
            "RENKEI_SECRET_KEY": secret_key,
            "RENKEI_LOG_LEVEL": "warning",
            "RENKEI_LOG_FORMAT": "json",
            "RENKEI_DATA_DIR": str(workdir),
            # The bench starts the job itself: the server's periodic must not.
            "RENKEI_RETENTION_INTERVAL_SECONDS": "86400",
            "RENKEI_RETENTION_BATCH_SIZE": str(args.batch_size),
        }
        script = bench.lua_script(
            workdir / "track.lua", json.dumps(bench.track_body()).encode(), write_key
        )
        with bench.server([sys.executable, "-m", "renkei", "serve"], env, workdir, "renkei") as (
            port,
            pid,
        ):
            url = f"http://127.0.0.1:{port}/v1/track"
            options = {"connections": args.connections, "threads": 1, "server_pid": pid}

            def window() -> dict[str, Any]:
                return dict(
                    bench.run_wrk(url, script, duration=args.duration, prefix=[], **options)
                )

            bench.run_wrk(url, script, duration=2.0, prefix=[], **options)  # warm-up
            before = window()
            job = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--job"],
                env=env,
                cwd=workdir,
                stdout=subprocess.PIPE,
                stderr=(workdir / "job.log").open("wb"),
            )
            during = window()
            outlasted = job.poll() is None
            out, _ = job.communicate()
            if job.returncode != 0:
                raise SystemExit(f"the job failed:\n{(workdir / 'job.log').read_text()[-3000:]}")
            report = json.loads(out)
            after = window()
        left = asyncio.run(expired_left(database_url))
        stored = asyncio.run(bench.count_events(database_url))
    acked = sum(run["acked"] for run in (before, during, after))

    def figures(run: dict[str, Any]) -> dict[str, Any]:
        return {
            "requests_per_s": run["requests_per_s"],
            "latency_ms": run["latency_ms"],
            "non_2xx": run["non_2xx"],
            "server_cpu_percent": run["server_cpu_percent"],
        }

    alone_rate = (before["requests_per_s"] + after["requests_per_s"]) / 2
    alone_p99 = (before["latency_ms"]["p99"] + after["latency_ms"]["p99"]) / 2
    print(
        json.dumps(
            {
                "backend": backend,
                "cpus": os.cpu_count(),
                "events_expired": report["counts"]["events"],
                "expired_left": left,
                "seed_seconds": round(seed_seconds, 1),
                "job_seconds": round(report["seconds"], 1),
                "job_events_per_s": round(report["counts"]["events"] / report["seconds"]),
                "job_batch_size": args.batch_size,
                "job_outlasted_window": outlasted,
                "window_s": args.duration,
                "before": figures(before),
                "during": figures(during),
                "after": figures(after),
                "rate_during_vs_alone": round(during["requests_per_s"] / alone_rate, 3),
                "p99_during_vs_alone": round(during["latency_ms"]["p99"] / alone_p99, 2),
                "acked": acked,
                "stored_at_least_acked": stored >= acked,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
