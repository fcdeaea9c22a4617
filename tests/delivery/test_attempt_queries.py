"""An endpoint's attempts are read through indexes: its log a page at a time, not by
sorting every attempt it ever had, and its 24 h success rate from the index alone
(bench/dashboard.py: 40,000 attempts per endpoint)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from renkei.delivery.endpoints import endpoint_health
from renkei.delivery.queries import attempts_query
from renkei.store import Database
from tests.support.plans import sqlite_plan


@pytest.mark.parametrize("before_id", [None, 1000])
async def test_an_endpoints_attempts_are_read_in_id_order_from_its_index(
    database: Database, before_id: int | None
) -> None:
    if not database.is_sqlite:
        pytest.skip("the query plan checked is SQLite's")
    query = attempts_query(limit=21, endpoint_id="ep_1", before_id=before_id)
    details = await sqlite_plan(database, query)
    assert any("ix_delivery_attempts_endpoint_id" in detail for detail in details), details
    assert not any("TEMP B-TREE" in detail for detail in details), details


async def test_endpoints_health_counts_the_days_attempts_from_the_index_alone(
    database: Database,
) -> None:
    if not database.is_sqlite:
        pytest.skip("the query plan checked is SQLite's")
    executed: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        executed.append((statement, parameters))

    async with database.read() as connection:
        event.listen(connection.sync_connection, "before_cursor_execute", record)
        await endpoint_health(connection, ["ep_1", "ep_2"], now=datetime.now(UTC))
        statement, parameters = next(
            (sql, params) for sql, params in executed if "GROUP BY" in sql and "success" in sql
        )
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        plan = await driver.execute_fetchall(f"EXPLAIN QUERY PLAN {statement}", parameters)
    details = [str(row[3]) for row in plan]
    assert any(
        "COVERING INDEX ix_delivery_attempts_endpoint_health" in detail for detail in details
    ), details
