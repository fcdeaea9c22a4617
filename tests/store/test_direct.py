"""DirectWrite stores what SQLAlchemy's executemany stores, on SQLite and PostgreSQL:
datetimes, JSON (objects and None), booleans, NULLs, values bound in the statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update

from renkei.store import Database
from renkei.store.direct import DirectWrite
from renkei.store.tables import jobs
from renkei.store.tables.webhooks import delivery_attempts

NOW = datetime(2026, 12, 7, 19, 0, 0, 123456, tzinfo=UTC)


def _attempt(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "delivery_id": f"dlv_{n}",
        "endpoint_id": "ep_1",
        "event_id": f"evt_{n}",
        "attempt": 1,
        "trigger": "scheduled",
        "started_at": NOW + timedelta(seconds=n),
        "url": "http://127.0.0.1/hook",
        "request_headers": {"webhook-id": f"evt_{n}", "x": "é"},
        "status_code": 204,
        "response_headers": None,
        "response_body": "",
        "duration_ms": 1.5,
        "error": None,
        "success": True,
    } | overrides


def _job(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "queue": "q",
        "task": "t",
        "payload": {"n": n},
        "status": "scheduled",
        "run_at": NOW,
        "attempts": 0,
        "max_attempts": 3,
        "created_at": NOW,
        "updated_at": NOW,
    } | overrides


async def _stored(database: Database, table: Any, order: Any) -> list[dict[str, Any]]:
    async with database.read() as connection:
        rows = (await connection.execute(select(table).order_by(order))).mappings().all()
    return [dict(row) for row in rows]


async def test_an_insert_stores_the_same_rows_either_way(database: Database) -> None:
    direct = DirectWrite(insert(delivery_attempts))
    through_sqlalchemy = [_attempt(n) for n in range(3)] + [
        _attempt(3, status_code=None, error="timed out", success=False, response_body=None)
    ]
    directly = [row | {"delivery_id": "d" + row["delivery_id"]} for row in through_sqlalchemy]
    async with database.transaction() as tx:
        await tx.execute(insert(delivery_attempts), through_sqlalchemy)
        await direct.executemany(tx, directly)
        await direct.executemany(tx, [])
    if database.is_sqlite:  # it went around SQLAlchemy's execution
        assert list(direct._plans.values()) != [None]
    stored = await _stored(database, delivery_attempts, delivery_attempts.c.id)
    assert len(stored) == 8
    for one, other in zip(stored[:4], stored[4:], strict=True):
        assert {k: v for k, v in one.items() if k not in ("id", "delivery_id")} == {
            k: v for k, v in other.items() if k not in ("id", "delivery_id")
        }
    assert stored[4]["started_at"] == NOW and stored[4]["request_headers"]["x"] == "é"
    assert stored[7]["success"] is False and stored[7]["status_code"] is None


async def test_an_update_and_a_delete_with_values_bound_in_the_statement(
    database: Database,
) -> None:
    rows = [_job(n, status="running", attempts=1) for n in range(4)]
    async with database.transaction() as tx:
        await tx.execute(insert(jobs), rows)
    ids = [row["id"] for row in await _stored(database, jobs, jobs.c.id)]
    mine = and_(
        jobs.c.id == bindparam("job_id"),
        jobs.c.attempts == bindparam("attempt"),
        jobs.c.status == "running",
    )
    touch = DirectWrite(update(jobs).where(mine).values(last_error=bindparam("error")))
    remove = DirectWrite(delete(jobs).where(mine))
    async with database.transaction() as tx:
        await touch.executemany(
            tx,
            [
                {"job_id": ids[0], "attempt": 1, "error": "x"},
                {"job_id": ids[1], "attempt": 2, "error": "no"},
            ],
        )
        await remove.executemany(
            tx, [{"job_id": ids[2], "attempt": 1}, {"job_id": ids[3], "attempt": 9}]
        )
    if database.is_sqlite:
        assert None not in [*touch._plans.values(), *remove._plans.values()]
    stored = {row["id"]: row for row in await _stored(database, jobs, jobs.c.id)}
    assert sorted(stored) == [ids[0], ids[1], ids[3]]
    assert stored[ids[0]]["last_error"] == "x" and stored[ids[1]]["last_error"] is None
    assert stored[ids[0]]["run_at"] == NOW and stored[ids[0]]["payload"] == {"n": 0}


async def test_keys_of_inserted_rows_come_back_in_the_rows_order(database: Database) -> None:
    direct = DirectWrite(insert(jobs))
    rows = [_job(n) for n in range(1203)]  # three statements
    async with database.transaction() as tx:
        await tx.execute(insert(jobs), rows[:2])  # keys taken before
        ids = await direct.insert_ids(tx, rows)
    if not database.is_sqlite:
        assert ids is None  # RETURNING's business there
        return
    assert ids is not None and len(set(ids)) == 1203
    stored = {row["id"]: row["payload"] for row in await _stored(database, jobs, jobs.c.id)}
    assert [stored[job_id] for job_id in ids] == [{"n": n} for n in range(1203)]
