"""How many batch events/s can SQLite take at all? The floor under ``/v1/batch``.

Issue 18 asks for 100,000 events/s through ``/v1/batch`` on 2 cores. This script measures
the two parts of a batched event's cost that no server, HTTP stack or process layout can
take away, on this machine, with Renkei's own code and schema:

- ``prepare``: ``decode_body`` + ``to_events`` (Segment's rules) + ``EventWrites.row`` (the
  stored JSON and timestamps) for the ingest bench's 100-event body: CPU per event;
- ``insert``: those rows inserted into a freshly migrated ``events`` table (its indexes and
  triggers as shipped), 100 per ``BEGIN IMMEDIATE ... COMMIT``, with the pragmas
  ``renkei serve`` uses: CPU and wall time per event. SQLite has one writer, so
  ``1e6 / insert wall`` bounds events/s whatever the number of processes.

It prints both, and the ceilings they imply: ``single_writer_ceiling`` (the insert alone,
serialised) and ``two_core_ceiling`` (2 cores spent on prepare + insert and nothing else:
no HTTP, no profiles, no group commit bookkeeping).

Two knobs say where the insert's time goes:

- ``--group N``: N requests' batches per transaction, as the group committer joins
  concurrent requests (``RENKEI_INGEST_MAX_GROUP_EVENTS``, 1,000 events by default);
- ``--without-index NAME`` (repeatable): drop that index of ``events`` before inserting.
  An experiment only: the shipped schema keeps every index (``indexes`` lists them).

    .venv/bin/python bench/batch_floor.py [--batches 300] [--group 8] [--without-index ix_events_user_id]

No network; a temporary database file.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: keep this folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from ingest import BATCH_SIZE, track_body

from renkei.events.ingest import new_event_id
from renkei.events.segment import decode_body, to_events
from renkei.store import Database, migrate
from renkei.store.database import SQLITE_PRAGMAS
from renkei.store.event_writes import EventWrites, _insert_sql


def prepare(body: bytes, writes: EventWrites) -> list[Any]:
    payload = decode_body("batch", body, content_type="application/json")
    ingested = to_events(
        "batch", payload, source_id="src_bench", received_at=datetime.now(UTC), new_id=new_event_id
    )
    parameters: list[Any] = []
    for event in ingested.events:
        parameters += writes.row(event)
    return parameters


async def migrated(path: str) -> None:
    database = Database(f"sqlite:///{path}")
    try:
        await migrate(database)
    finally:
        await database.dispose()


def events_indexes(connection: sqlite3.Connection) -> list[str]:
    """Every index on ``events``, SQLite's automatic ones (the primary and unique keys) too."""
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name"
    )
    return [name for (name,) in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--group", type=int, default=1, help="batches per transaction")
    parser.add_argument(
        "--without-index", action="append", default=[], metavar="NAME", help="drop this index"
    )
    args = parser.parse_args()
    batches = max(10, min(args.batches, 3000))
    group = max(1, min(args.group, 50))
    body = json.dumps({"batch": [track_body(n) for n in range(BATCH_SIZE)]}).encode()
    writes = EventWrites()
    for _ in range(20):  # warm-up
        prepare(body, writes)
    started = time.process_time()
    prepared = [prepare(body, writes) for _ in range(batches)]
    prepare_us = (time.process_time() - started) / (batches * BATCH_SIZE) * 1e6

    with tempfile.TemporaryDirectory(prefix="renkei-floor-") as folder:
        path = os.path.join(folder, "floor.db")
        asyncio.run(migrated(path))
        connection = sqlite3.connect(path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            connection.execute(pragma)
        indexes = events_indexes(connection)
        for name in args.without_index:
            if name not in indexes:
                parser.error(f"no index {name!r} on events; it has {', '.join(indexes)}")
            connection.execute(f'DROP INDEX "{name}"')
        sql = _insert_sql(BATCH_SIZE) + " ON CONFLICT DO NOTHING"
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, batches, group):
            connection.execute("BEGIN IMMEDIATE")
            for parameters in prepared[start : start + group]:
                connection.execute(sql, parameters)
            connection.execute("COMMIT")
        insert_cpu_us = (time.process_time() - cpu) / (batches * BATCH_SIZE) * 1e6
        insert_wall_us = (time.perf_counter() - wall) / (batches * BATCH_SIZE) * 1e6
        stored = connection.execute("SELECT count(*) FROM events").fetchone()[0]
        connection.close()
    print(
        json.dumps(
            {
                "events_per_batch": BATCH_SIZE,
                "batches": batches,
                "batches_per_transaction": group,
                "indexes": [name for name in indexes if name not in args.without_index],
                "dropped_indexes": args.without_index,
                "stored": stored,
                "prepare_cpu_us_per_event": round(prepare_us, 2),
                "insert_cpu_us_per_event": round(insert_cpu_us, 2),
                "insert_wall_us_per_event": round(insert_wall_us, 2),
                "single_writer_ceiling_events_per_s": round(1e6 / insert_wall_us),
                "two_core_ceiling_events_per_s": round(2e6 / (prepare_us + insert_cpu_us)),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
