"""Many-row statements come in a few row counts only: SQLite's driver keeps every recent
count's prepared statement, and a big one holds half a megabyte (store/chunks.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text

from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.events.profiles import apply_events
from renkei.hub import Hub
from renkei.store.chunks import EXACT_UP_TO, MOST_ROWS, few_sized_chunks, padded_to_few_sizes
from renkei.store.direct import inline_driver
from tests.support.databases import DatabaseFactory
from tests.support.server import test_settings as settings_for

NOW = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)


SIZES = {*range(1, EXACT_UP_TO + 1), 32, 64, 128, MOST_ROWS}


@pytest.mark.parametrize("count", [*range(0, 70), 255, 256, 257, 300, 511, 1000, 1023, 4097])
def test_chunks_keep_order_and_come_in_a_few_sizes(count: int) -> None:
    items = list(range(count))
    chunks = few_sized_chunks(items)
    assert [item for chunk in chunks for item in chunk] == items
    sizes = [len(chunk) for chunk in chunks]
    assert set(sizes) <= SIZES
    assert sizes == sorted(sizes, reverse=True)
    assert sum(size < EXACT_UP_TO for size in sizes) <= 1  # the small rest in one chunk


def test_every_count_up_to_a_thousand_makes_twenty_sizes_at_most() -> None:
    sizes = {len(chunk) for count in range(1001) for chunk in few_sized_chunks(range(count))}
    assert sizes == SIZES


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 16, 17, 100, 2000])
def test_a_padded_list_keeps_its_values_in_a_few_sizes(count: int) -> None:
    values = [f"v{n}" for n in range(count)]
    padded = padded_to_few_sizes(values)
    assert padded[:count] == values
    assert set(padded) == set(values)
    if count <= EXACT_UP_TO:
        assert padded == values
    else:
        assert len(padded) == 1 << (count - 1).bit_length()


class _Recording:
    """The SQLite connection itself, noting the text of every statement it runs."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.statements: list[str] = []

    def execute(self, sql: str, *parameters: Any) -> sqlite3.Cursor:
        self.statements.append(sql)
        return self._connection.execute(sql, *parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _events(group: int, count: int) -> list[Event]:
    return [
        Event(
            id=f"g{group}-{n}",
            type="track",
            name="Order Completed",
            data={"event": "Order Completed"},
            occurred_at=NOW,
            received_at=NOW,
            source_id="src_test",
            user_id=f"user-{group}-{n}",
        )
        for n in range(count)
    ]


@pytest.fixture
def sqlite_url(database_factory: DatabaseFactory) -> str:
    """SQLite only: its driver keeps the prepared statements in this process."""
    return database_factory.new_url("sqlite")


async def test_groups_of_every_size_are_stored_through_a_few_statements(sqlite_url: str) -> None:
    hub = Hub(settings_for(sqlite_url))
    counts = [*range(1, 80), 150, 255, 257, 300, 333, 500, 777]
    try:
        recording: _Recording | None = None
        for group, count in enumerate(counts):
            async with hub.database.transaction() as tx:
                driver = await inline_driver(tx)
                if recording is None:
                    recording = _Recording(driver._conn)
                    driver._conn = recording  # type: ignore[assignment]
                stored = await record_events(hub, tx, _events(group, count))
                await apply_events(tx, stored, now=NOW)  # as the group committer does
            assert len(stored) == count
        async with hub.database.read() as connection:
            total = (await connection.execute(text("SELECT count(*) FROM events"))).scalar_one()
    finally:
        await hub.database.dispose()
    assert total == sum(counts)
    assert recording is not None
    inserts = {sql for sql in recording.statements if sql.startswith("INSERT INTO events")}
    lookups = {sql for sql in recording.statements if sql.startswith("SELECT id FROM events")}
    owners = {sql for sql in recording.statements if "FROM identities" in sql}
    attached = {sql for sql in recording.statements if sql.startswith("INSERT INTO identities")}
    # Before: a statement of each kind per group size (86 sizes here, up to 500 in all).
    assert len(inserts) <= 2 * len(SIZES)
    assert len(lookups) <= len(SIZES)
    assert len(owners) <= len(SIZES) + 4  # lists of up to 2,048 values
    assert len(attached) <= len(SIZES)


@pytest.fixture
def postgres_url(database_factory: DatabaseFactory) -> str:
    return database_factory.new_url("postgresql")


async def test_on_postgresql_too_groups_of_every_size_make_a_few_statements(
    postgres_url: str,
) -> None:
    """There the prepared statements live in the server's backends (asyncpg keeps 100 per
    connection): one per group size took a backend 41 MB over sizes 1 to 500."""
    hub = Hub(settings_for(postgres_url))
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(hub.database.writer.sync_engine, "before_cursor_execute", note)
    counts = [*range(1, 40), 150, 257, 300, 333]
    try:
        for group, count in enumerate(counts):
            async with hub.database.transaction() as tx:
                stored = await record_events(hub, tx, _events(group, count))
                await apply_events(tx, stored, now=NOW)
            assert len(stored) == count
    finally:
        await hub.database.dispose()
    inserts = {sql for sql in statements if sql.startswith("INSERT INTO events")}
    owners = {sql for sql in statements if "FROM identities" in sql}
    attached = {sql for sql in statements if sql.startswith("INSERT INTO identities")}
    assert len(inserts) <= len(SIZES)
    assert len(owners) <= len(SIZES) + 4
    assert len(attached) <= len(SIZES)
