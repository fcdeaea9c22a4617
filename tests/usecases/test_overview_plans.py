"""The overview's counts of the last 24 hours read a time range of an index, not every
delivery ever made (bench/dashboard.py: 2,000,000 deliveries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from renkei.store import Database
from renkei.usecases.overview import deliveries_by_status_query, hourly_outcomes_query
from tests.support.plans import sqlite_plan

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
STARTS = [NOW - timedelta(hours=24 - hour) for hour in range(24)]


@pytest.fixture
def sqlite(database: Database) -> Database:
    if not database.is_sqlite:
        pytest.skip("the query plan checked is SQLite's")
    return database


async def test_the_counts_by_status_read_the_index_alone(sqlite: Database) -> None:
    details = await sqlite_plan(sqlite, deliveries_by_status_query(NOW - timedelta(hours=24)))
    assert any(
        "COVERING INDEX ix_deliveries_created_status (created_at>?)" in detail for detail in details
    ), details


async def test_the_hourly_chart_reads_the_index_alone(sqlite: Database) -> None:
    details = await sqlite_plan(sqlite, hourly_outcomes_query(STARTS, None))
    assert any(
        "COVERING INDEX ix_deliveries_created_status (created_at>?)" in detail for detail in details
    ), details


async def test_an_endpoints_chart_reads_its_own_deliveries(sqlite: Database) -> None:
    details = await sqlite_plan(sqlite, hourly_outcomes_query(STARTS, "ep_1"))
    assert any(
        "ix_deliveries_endpoint_created (endpoint_id=? AND created_at>?)" in detail
        for detail in details
    ), details
