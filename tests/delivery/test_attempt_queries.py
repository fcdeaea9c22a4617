"""An endpoint's attempt log is read a page at a time through its index, not by sorting
every attempt the endpoint ever had (bench/dashboard.py: 20,000 attempts per endpoint)."""

from __future__ import annotations

import pytest

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
