"""The violation recorder: counts aggregated in memory, one upsert per group, and nothing
lost when a flush fails. Real databases on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import inspect, select

from renkei.events.envelope import Event
from renkei.events.plan import Plan, Problem, compile_plan_schema, enforce
from renkei.events.violations import ViolationRecorder, list_violations, scrub_samples
from renkei.hub import Hub
from renkei.store import Database
from renkei.store.tables.plans import plan_violations
from tests.support.server import test_settings as hub_settings

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
MISSING = Problem("required", "properties.amount", '"amount" is a required property', None)


def _event(number: int, at: datetime = T0, name: str = "Order Completed") -> Event:
    return Event(
        id=f"e-{number}",
        type="track",
        name=name,
        data={"type": "track", "event": name, "properties": {"n": number}},
        occurred_at=at,
        received_at=at,
        source_id="src_1",
    )


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    hub = Hub(hub_settings(database_url))
    try:
        yield hub
    finally:
        await hub.database.dispose()


async def test_many_problems_become_one_row_per_group(hub: Hub) -> None:
    recorder = ViolationRecorder(hub)
    for number in range(500):
        recorder.record(
            "src_1",
            _event(number, T0 + timedelta(seconds=number)),
            "properties",
            MISSING,
            "allowed",
        )
    recorder.record("src_2", _event(9), "properties", MISSING, "blocked")
    assert recorder.pending_groups == 2
    await recorder.flush()
    assert recorder.pending_groups == 0
    for number in range(500, 510):
        recorder.record(
            "src_1", _event(number, T0 + timedelta(hours=1)), "properties", MISSING, "omitted"
        )
    await recorder.flush()

    async with hub.database.read() as connection:
        rows = await list_violations(connection, source_id="src_1", limit=10)
    assert len(rows) == 1
    row = rows[0]
    assert (row.count, row.first_seen, row.last_seen) == (510, T0, T0 + timedelta(hours=1))
    assert (row.problem, row.path, row.action) == ("required", "properties.amount", "omitted")
    assert row.sample == {"event_id": "e-509", "properties": {"n": 509}}


async def test_a_failed_flush_keeps_its_counts_for_the_next(hub: Hub, tmp_path: Path) -> None:
    unreachable = Database(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db")
    recorder = ViolationRecorder(SimpleNamespace(database=unreachable))  # type: ignore[arg-type]
    for number in range(3):
        recorder.record("src_1", _event(number), "properties", MISSING, "allowed")
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        await recorder.flush()
    await unreachable.dispose()
    recorder.record("src_1", _event(3), "properties", MISSING, "allowed")
    recorder.hub = hub  # the database is back
    await recorder.flush()
    async with hub.database.read() as connection:
        counts = [row.count for row in await list_violations(connection, limit=10)]
    assert counts == [4]


async def test_a_deleted_persons_samples_are_scrubbed_and_the_counts_kept(hub: Hub) -> None:
    recorder = ViolationRecorder(hub)
    recorder.record("src_1", _event(1), "properties", MISSING, "allowed")
    recorder.record("src_1", _event(2, name="Other"), "properties", MISSING, "allowed")
    await recorder.flush()
    async with hub.database.transaction() as tx:
        assert await scrub_samples(tx, ["e-1", "e-unknown"]) == 1
    async with hub.database.read() as connection:
        rows = {row.event_name: row for row in await list_violations(connection, limit=10)}
    assert rows["Order Completed"].sample == {"scrubbed": True}
    assert rows["Order Completed"].count == 1
    assert rows["Other"].sample == {"event_id": "e-2", "properties": {"n": 2}}


async def test_waiting_groups_are_bounded(hub: Hub) -> None:
    recorder = ViolationRecorder(hub, max_groups=3)
    for number in range(10):
        recorder.record(
            "src_1", _event(number, name=f"made-up {number}"), "properties", MISSING, "blocked"
        )
    recorder.record("src_1", _event(0, name="made-up 0"), "properties", MISSING, "blocked")
    assert recorder.pending_groups == 3
    await recorder.close()
    async with hub.database.read() as connection:
        counts = sorted(row.count for row in await list_violations(connection, limit=10))
    assert counts == [1, 1, 2]


async def test_the_table_matches_the_metadata(database: Database) -> None:
    def columns(sync: Any) -> set[str]:
        return {column["name"] for column in inspect(sync).get_columns("plan_violations")}

    async with database.read() as connection:
        found = await connection.run_sync(columns)
        assert list(await connection.execute(select(plan_violations))) == []
    assert found == {column.name for column in plan_violations.columns}


def test_paths_name_array_items_as_stars_and_omit_drops_the_top_property() -> None:
    schema = {
        "type": "object",
        "properties": {
            "products": {
                "type": "array",
                "items": {"type": "object", "properties": {"price": {"type": "number"}}},
            },
            "note": {"type": "string"},
        },
    }
    plan = Plan(1, {"Order Completed": compile_plan_schema(schema)}, {})
    event = _event(1)
    event.data["properties"] = {"products": [{"price": 1}, {"price": "2"}], "note": "hi"}
    seen: list[tuple[str, str, str]] = []
    kept = enforce(
        plan,
        "omit_properties",
        "src_1",
        [event],
        lambda source, e, field, problem, action: seen.append((problem.kind, problem.path, action)),
    )
    assert seen == [("type", "properties.products.*.price", "omitted")]
    assert kept[0].data["properties"] == {"note": "hi"}


def test_a_payload_that_is_no_object_is_one_problem_and_is_dropped_whole() -> None:
    plan = Plan(1, {"Order Completed": compile_plan_schema({"type": "object"})}, {})
    event = _event(1)
    event.data["properties"] = ["not", "an", "object"]
    seen: list[str] = []
    kept = enforce(
        plan, "omit_properties", "src_1", [event], lambda *args: seen.append(args[3].path)
    )
    assert seen == ["properties"]
    assert kept[0].data["properties"] == {}
