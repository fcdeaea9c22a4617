"""FIFO lanes find their next delivery through the lane index, not by sorting the
endpoint's whole backlog."""

from __future__ import annotations

import pytest

from renkei.delivery.deliver import lane_head_query
from renkei.store import Database
from tests.support.plans import sqlite_plan


async def test_a_lane_head_is_read_through_the_lane_index(database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("the query plan checked is SQLite's")
    details = await sqlite_plan(database, lane_head_query("ep_1", "customer-42"))
    assert any("ix_deliveries_lane_open" in detail for detail in details), details
    assert not any("TEMP B-TREE" in detail for detail in details), details
