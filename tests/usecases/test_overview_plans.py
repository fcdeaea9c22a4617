"""The overview's counts of the last 24 hours read time ranges of an index, not every
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


def reads(details: list[str], index_range: str) -> int:
    return sum(index_range in detail for detail in details)


async def test_the_counts_by_status_read_the_index_alone(sqlite: Database) -> None:
    details = await sqlite_plan(sqlite, deliveries_by_status_query(NOW - timedelta(hours=24)))
    assert reads(details, "COVERING INDEX ix_deliveries_created_status (created_at>?)"), details


async def test_the_hourly_chart_reads_a_time_range_of_the_index_per_hour(
    sqlite: Database,
) -> None:
    details = await sqlite_plan(sqlite, hourly_outcomes_query(STARTS, None))
    hour = "COVERING INDEX ix_deliveries_created_status (created_at>? AND created_at<?)"
    assert reads(details, hour) == len(STARTS) - 1, details  # the current hour has no end
    assert not any(detail.startswith("SCAN deliveries") for detail in details), details


async def test_an_endpoints_chart_reads_its_own_deliveries(sqlite: Database) -> None:
    details = await sqlite_plan(sqlite, hourly_outcomes_query(STARTS, "ep_1"))
    hour = "ix_deliveries_endpoint_created (endpoint_id=? AND created_at>? AND created_at<?)"
    assert reads(details, hour) == len(STARTS) - 1, details
    assert not any(detail.startswith("SCAN deliveries") for detail in details), details
