"""What building a SQLAlchemy statement per call costs on the relay path (issue 18).

The claim, the delivery load and the attempt recorder's updates each ran a statement built
at the call; they now run one built once (``queue/manager._claim_statement``,
``delivery/deliver._SELECT_BY_IDS``, ``delivery/recorder._UPDATE_DELIVERY`` and
``_END_FAILING``). This times both forms on a fresh SQLite file in one process: CPU time
(``time.process_time``) per execution, the best of several rounds, which a busy machine
disturbs far less than a throughput. Prints JSON.

    .venv/bin/python bench/statement_build.py
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from renkei.delivery import recorder
from renkei.delivery.deliver import _SELECT, _SELECT_BY_IDS
from renkei.queue.manager import _claim_statement, due_jobs
from renkei.store.database import Database
from renkei.store.migrate import migrate
from renkei.store.tables import jobs
from renkei.store.tables.webhooks import deliveries, endpoints

ROUNDS = 7
RUNS = 300


def _claim_built(now: datetime) -> Any:
    """The claim as it was built at every call before."""
    return (
        update(jobs)
        .where(jobs.c.id.in_(due_jobs(now, 64, None).scalar_subquery()))
        .values(
            status="running",
            attempts=jobs.c.attempts + 1,
            worker_id="w",
            lease_expires_at=now + timedelta(seconds=60),
            updated_at=now,
        )
        .returning(*(jobs.c[name] for name in ("id", "queue", "task", "payload", "attempts")))
    )


async def _best_us(database: Database, make: Callable[[], tuple[Any, ...]]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        async with database.transaction() as connection:
            for _ in range(RUNS):
                await connection.execute(*make())
        best = min(best, (time.process_time() - started) / RUNS)
    return round(best * 1e6, 1)


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    database = Database(f"sqlite:///{folder / 'bench.db'}")
    await migrate(database)
    now = datetime.now(UTC)
    ids = [f"dlv_{n}" for n in range(10)]
    rows = [
        {
            "b_id": delivery_id,
            "b_status": "succeeded",
            "b_attempts": 1,
            "b_next_attempt_at": None,
            "b_last_attempt_at": now,
            "b_last_status_code": 204,
            "b_last_error": None,
        }
        for delivery_id in ids
    ]
    claim_values = {"now": now, "limit": 64, "worker_id": "w", "lease_expires_at": now}
    cases: dict[str, tuple[Callable[[], tuple[Any, ...]], Callable[[], tuple[Any, ...]]]] = {
        "claim (empty queue)": (
            lambda: (_claim_built(now),),
            lambda: (_claim_statement(None), claim_values),
        ),
        "load 10 deliveries": (
            lambda: (_SELECT.where(deliveries.c.id.in_(ids)),),
            lambda: (_SELECT_BY_IDS, {"ids": ids}),
        ),
        "update 10 deliveries (executemany)": (
            lambda: (recorder.build_delivery_update(), rows),
            lambda: (recorder._UPDATE_DELIVERY, rows),
        ),
        "endpoint no longer failing": (
            lambda: (
                update(endpoints)
                .where(endpoints.c.id == "e", endpoints.c.failing_since.is_not(None))
                .values(failing_since=None),
            ),
            lambda: (recorder._END_FAILING, {"endpoint_id": "e"}),
        ),
    }
    results = {}
    for name, (built, kept) in cases.items():
        results[name] = {
            "built_per_call_us": await _best_us(database, built),
            "built_once_us": await _best_us(database, kept),
        }
    await database.dispose()
    print(json.dumps({"cpu_us_per_execution": results, "rounds": ROUNDS, "runs": RUNS}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
