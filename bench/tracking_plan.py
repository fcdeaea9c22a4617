"""What does the tracking plan cost the tracking API? Measure, don't guess (issue 20).

One ``renkei serve`` on a fresh database, three tracking sources, the same bodies as
``bench/ingest.py`` (``/v1/track`` one event per request, ``/v1/batch`` 100 per request):

- ``no_plan``: a source without ``plan_mode`` (nothing is checked: the baseline);
- ``plan_valid``: ``plan_mode: block``, and ``Order Completed`` planned with a schema every
  event satisfies (the usual case: the plan is checked, nothing recorded);
- ``plan_violating``: ``plan_mode: allow`` with a schema every event breaks on two
  properties (each event is checked, stored, and two violations counted in memory; the
  groups are upserted about once a second).

The variants are interleaved, round after round (their order rotated, as the database
grows), against the same server, so a busy machine weighs on all of them alike; each figure
is the median of the rounds. Besides rates and p99 it reports the server's CPU time per
event (all its processes), which a busy machine disturbs less than a rate. wrk on
127.0.0.1, as ``bench/ingest.py`` drives it (its helpers are reused).

    .venv/bin/python bench/tracking_plan.py                    # SQLite, 3 rounds of 5 s
    .venv/bin/python bench/tracking_plan.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

It also times the check alone, in this process (``in_process_us_per_event``: ``enforce``
on 100-event batches, no HTTP, no storage); ``--in-process-only`` prints just that.

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
import statistics
import uuid
from datetime import UTC, datetime
from typing import Any


def _load_ingest_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ingest", HERE / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_ingest_bench()

VALID_SCHEMA = {
    "type": "object",
    "required": ["order_id", "total", "currency"],
    "properties": {
        "order_id": {"type": "string"},
        "total": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD", "JPY"]},
        "products": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku", "price"],
                "properties": {
                    "sku": {"type": "string"},
                    "price": {"type": "number"},
                    "quantity": {"type": "integer", "minimum": 1},
                },
            },
        },
    },
    "additionalProperties": False,
}
# Breaks every bench event twice: total is a number, and coupon is required.
VIOLATED_SCHEMA = {
    **VALID_SCHEMA,
    "required": ["order_id", "total", "currency", "coupon"],
    "properties": {**VALID_SCHEMA["properties"], "total": {"type": "string"}},
}
VARIANTS = ("no_plan", "plan_valid", "plan_violating")


async def prepare(url: str, secret_key: str) -> dict[str, str]:
    """Migrate, plan ``Order Completed`` (and ``Order Completed (violating)``), create one
    source per variant; returns their write keys."""
    from renkei.delivery.event_types import create_event_type
    from renkei.events.sources import create_source
    from renkei.security.keyring import Keyring
    from renkei.store import Database, migrate

    database = Database(url)
    keys: dict[str, str] = {}
    try:
        await migrate(database)
        now = datetime.now(UTC)
        async with database.transaction() as tx:
            for name, schema in (
                ("Order Completed", VALID_SCHEMA),
                ("Order Completed (violating)", VIOLATED_SCHEMA),
            ):
                await create_event_type(
                    tx,
                    name=name,
                    description="",
                    schema=schema,
                    example=None,
                    now=now,
                    planned=True,
                )
            for variant, mode in zip(VARIANTS, (None, "block", "allow"), strict=True):
                created = await create_source(
                    tx,
                    Keyring([secret_key]),
                    kind="tracking",
                    name=f"bench-{variant}-{uuid.uuid4().hex[:6]}",
                    plan_mode=mode,
                    now=now,
                )
                assert created.write_key is not None
                keys[variant] = created.write_key
    finally:
        await database.dispose()
    return keys


def body(variant: str, number: int = 0) -> dict[str, Any]:
    event = bench.track_body(number)
    if variant == "plan_violating":
        event["event"] = "Order Completed (violating)"
    return event


async def violation_rows(url: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from renkei.store import Database
    from renkei.store.tables.plans import plan_violations

    database = Database(url)
    try:
        async with database.read() as connection:
            rows = await connection.execute(select(plan_violations.c.path, plan_violations.c.count))
            return [{"path": row.path, "count": int(row.count)} for row in rows]
    finally:
        await database.dispose()


def in_process_us_per_event(repeat: int = 200) -> dict[str, float]:
    """What checking costs per event in ``enforce`` alone, without HTTP or storage (the
    median of 5 timings of ``repeat`` batches of 100): steadier than the server figures."""
    import timeit

    from renkei.events.envelope import Event
    from renkei.events.plan import Plan, compile_plan_schema, enforce
    from renkei.events.violations import ViolationRecorder

    now = datetime.now(UTC)

    def events(variant: str) -> list[Event]:
        made = []
        for number in range(bench.BATCH_SIZE):
            data = body(variant, number)
            made.append(Event(f"e-{number}", "track", data["event"], data, now, now, "s"))
        return made

    plan = Plan(
        1,
        {
            "Order Completed": compile_plan_schema(VALID_SCHEMA),
            "Order Completed (violating)": compile_plan_schema(VIOLATED_SCHEMA),
        },
        {},
    )
    unplanned = Plan(1, {}, {})
    recorder = ViolationRecorder(None)  # type: ignore[arg-type]  # counts only, never flushed
    cases = {
        "plan_valid": (plan, "block", events("plan_valid")),
        "plan_violating": (plan, "allow", events("plan_violating")),
        "unplanned_blocked": (unplanned, "block", events("plan_valid")),
    }
    figures = {}
    for name, (which, mode, batch) in cases.items():
        timings = timeit.repeat(
            lambda which=which, mode=mode, batch=batch: enforce(
                which, mode, "s", batch, recorder.record
            ),
            number=repeat,
            repeat=5,
        )
        figures[name] = round(statistics.median(timings) / repeat / len(batch) * 1e6, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (≤ 60)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch-connections", type=int, default=16)
    parser.add_argument("--processes", type=int, help="renkei serve --processes")
    parser.add_argument("--database-url", help="PostgreSQL server (admin URL); default SQLite")
    parser.add_argument(
        "--in-process-only", action="store_true", help="only the in-process cost per event"
    )
    args = parser.parse_args()
    from renkei.security.keyring import generate_key

    in_process = in_process_us_per_event()
    if args.in_process_only:
        print(json.dumps({"in_process_us_per_event": in_process}, indent=2))
        return

    duration = min(args.duration, 60.0)
    secret_key = generate_key()
    backend = "postgresql" if args.database_url else "sqlite"
    with bench.workspace(args.database_url, "renkei-bench-plan-") as (workdir, database_url):
        keys = asyncio.run(prepare(database_url, secret_key))
        env = {
            **os.environ,
            "RENKEI_DATABASE_URL": database_url,
            "RENKEI_SECRET_KEY": secret_key,
            "RENKEI_LOG_LEVEL": "warning",
            "RENKEI_LOG_FORMAT": "json",
            "RENKEI_DATA_DIR": str(workdir),
        }
        scripts: dict[tuple[str, str], Path] = {}
        for variant in VARIANTS:
            one = json.dumps(body(variant)).encode()
            many = json.dumps(
                {"batch": [body(variant, n) for n in range(bench.BATCH_SIZE)]}
            ).encode()
            scripts[variant, "track"] = bench.lua_script(
                workdir / f"{variant}-track.lua", one, keys[variant]
            )
            scripts[variant, "batch"] = bench.lua_script(
                workdir / f"{variant}-batch.lua", many, keys[variant]
            )
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        command = [sys.executable, "-m", "renkei", "serve"]
        if args.processes:
            command += ["--processes", str(args.processes)]
        with bench.server(command, env, workdir, "renkei") as (port, pid):
            for round_ in range(args.rounds):
                # Rotated each round: the database grows, so no variant always runs last.
                shift = round_ % len(VARIANTS)
                for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                    for kind, path, connections in (
                        ("track", "/v1/track", args.connections),
                        ("batch", "/v1/batch", args.batch_connections),
                    ):
                        url = f"http://127.0.0.1:{port}{path}"
                        options = {
                            "connections": connections,
                            "threads": 1,
                            "server_pid": pid,
                            "prefix": [],
                        }
                        if args.warmup:
                            bench.run_wrk(
                                url, scripts[variant, kind], duration=args.warmup, **options
                            )
                        result = bench.run_wrk(
                            url, scripts[variant, kind], duration=duration, **options
                        )
                        runs.setdefault((variant, kind), []).append(result)
        violations = asyncio.run(violation_rows(database_url))

    def median(variant: str, kind: str, key: str) -> float:
        values = [run[key] for run in runs[variant, kind]]
        return round(statistics.median(values), 1)

    def cpu_us_per_event(variant: str, kind: str) -> float:
        """The server's CPU per event stored: steadier than a rate on a shared machine."""
        per_request = bench.BATCH_SIZE if kind == "batch" else 1
        values = [
            run["server_cpu_percent"] / 100 * 1e6 / (run["requests_per_s"] * per_request)
            for run in runs[variant, kind]
        ]
        return round(statistics.median(values), 1)

    def p99(variant: str, kind: str) -> float:
        return round(statistics.median(r["latency_ms"]["p99"] for r in runs[variant, kind]), 2)

    figures: dict[str, Any] = {}
    for variant in VARIANTS:
        figures[variant] = {
            "track_requests_per_s": median(variant, "track", "requests_per_s"),
            "track_p99_ms": p99(variant, "track"),
            "track_server_cpu_us_per_event": cpu_us_per_event(variant, "track"),
            "batch_events_per_s": round(
                median(variant, "batch", "requests_per_s") * bench.BATCH_SIZE
            ),
            "batch_p99_ms": p99(variant, "batch"),
            "batch_server_cpu_us_per_event": cpu_us_per_event(variant, "batch"),
            "non_2xx": sum(
                r["non_2xx"] for kind in ("track", "batch") for r in runs[variant, kind]
            ),
        }
    base = figures["no_plan"]
    for variant in VARIANTS[1:]:
        figures[variant]["track_vs_no_plan"] = round(
            figures[variant]["track_requests_per_s"] / base["track_requests_per_s"], 3
        )
        figures[variant]["batch_vs_no_plan"] = round(
            figures[variant]["batch_events_per_s"] / base["batch_events_per_s"], 3
        )
    print(
        json.dumps(
            {
                "backend": backend,
                "cpus": os.cpu_count(),
                "rounds": args.rounds,
                "duration_s": duration,
                "processes": args.processes or "serve's default",
                "in_process_us_per_event": in_process,
                **figures,
                "violation_rows": violations,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
