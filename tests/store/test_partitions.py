"""Time partitions of events, deliveries and attempts (migration 0028, store/partitions.py):
made by the migration and ahead of time by ``partitions.maintain``, dropped whole by
``retention.expire``; an event id stays unique across partitions. PostgreSQL only where it
is about partitions; the dedupe across weeks is checked on both backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, func, insert, select, text

from renkei.clock import ManualClock
from renkei.hub import Hub
from renkei.operations.partitions import maintain
from renkei.operations.retention import expire
from renkei.store import Database, migrate
from renkei.store import partitions as store_partitions
from renkei.store.event_writes import event_writes
from renkei.store.migrate import alembic_config
from renkei.store.tables.core import events
from renkei.store.tables.webhooks import deliveries, delivery_attempts, endpoints
from tests.support.server import test_settings as make_settings

pytestmark = pytest.mark.timeout(120)
only_partitioned = pytest.mark.parametrize("backend", ["postgresql"])

START = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
TABLES = ("events", "deliveries", "delivery_attempts")


@dataclass(frozen=True)
class Stored:
    id: str
    received_at: datetime
    type: str = "order.paid"
    name: str | None = None
    source_id: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    email: str | None = None
    data: Any = field(default_factory=dict)

    @property
    def occurred_at(self) -> datetime:
        return self.received_at


async def _children(database: Database, table: str) -> set[str]:
    async with database.read() as connection:
        rows = await connection.execute(
            text(
                "SELECT child.relname FROM pg_inherits"
                " JOIN pg_class child ON child.oid = pg_inherits.inhrelid"
                " WHERE inhparent = CAST(:t AS regclass)"
            ),
            {"t": table},
        )
        return {str(name) for (name,) in rows}


def _weeks(table: str, first: datetime, count: int) -> set[str]:
    start = store_partitions.floor(first)
    return {
        store_partitions.name_of(table, start + n * store_partitions.SPAN) for n in range(count)
    }


@only_partitioned
async def test_the_migration_makes_this_week_and_those_ahead(database: Database) -> None:
    now = datetime.now(UTC)
    for table in TABLES:
        children = await _children(database, table)
        assert f"{table}_default" in children
        assert _weeks(table, now, store_partitions.AHEAD + 1) <= children


@only_partitioned
async def test_maintenance_makes_future_partitions_and_moves_strays(database_url: str) -> None:
    hub = Hub(make_settings(database_url), clock=ManualClock(START))
    try:
        # An event stored before its partition existed lands in DEFAULT ...
        async with hub.database.transaction() as tx:
            fresh, _ = await event_writes(hub.database).admit(tx, [Stored("e_early", START)], {})
        assert [event.id for event in fresh] == ["e_early"]
        made = await maintain(hub)
        for table in TABLES:
            assert _weeks(table, START, store_partitions.AHEAD + 1) <= set(made)
            assert _weeks(table, START, store_partitions.AHEAD + 1) <= await _children(
                hub.database, table
            )
        # ... and moves into it when it is made, with its id still claimed.
        async with hub.database.read() as connection:
            where = await connection.execute(
                text("SELECT tableoid::regclass::text FROM events WHERE id = 'e_early'")
            )
            assert where.scalar_one() == store_partitions.name_of("events", START)
        async with hub.database.transaction() as tx:
            again, _ = await event_writes(hub.database).admit(tx, [Stored("e_early", START)], {})
        assert again == []
        assert await maintain(hub) == []  # nothing missing: nothing made
    finally:
        await hub.stop()


async def test_an_event_id_is_stored_once_whatever_its_week(database: Database) -> None:
    """The dedupe of ingest holds across partitions: the same id received weeks later
    (another partition) is refused, on both backends."""
    writes = event_writes(database)
    first = Stored("e_dup", START - timedelta(days=30))
    async with database.transaction() as tx:
        fresh, written = await writes.admit(tx, [first], {})
        if not written:
            await writes.write(tx, fresh, {}, and_commit=False)
    retry, other = Stored("e_dup", START), Stored("e_other", START)
    async with database.transaction() as tx:
        fresh, written = await writes.admit(tx, [retry, other], {})
        if not written:
            await writes.write(tx, fresh, {}, and_commit=False)
    assert [event.id for event in fresh] == ["e_other"]
    async with database.read() as connection:
        count = await connection.execute(
            select(func.count()).select_from(events).where(events.c.id == "e_dup")
        )
        assert count.scalar_one() == 1


@only_partitioned
async def test_expiry_drops_whole_partitions(database_url: str) -> None:
    old = START - timedelta(days=120)
    settings = make_settings(database_url, retention_events_days=90, retention_deliveries_days=90)
    hub = Hub(settings, clock=ManualClock(old))
    try:
        await maintain(hub)  # the partitions of the old week
        async with hub.database.transaction() as tx:
            await tx.execute(
                insert(endpoints).values(
                    id="ep_1",
                    name="e",
                    url="http://127.0.0.1:9/",
                    event_types=["order.paid"],
                    timeout_seconds=5,
                    created_at=old,
                    updated_at=old,
                )
            )
            await tx.execute(
                insert(events),
                [
                    {
                        "id": f"e{n}",
                        "type": "order.paid",
                        "data": {},
                        "occurred_at": old,
                        "received_at": old,
                    }
                    for n in range(5)
                ],
            )
            await tx.execute(
                insert(deliveries),
                [
                    {
                        "id": f"dlv_{n}",
                        "event_id": f"e{n}",
                        "endpoint_id": "ep_1",
                        "event_type": "order.paid",
                        "status": "succeeded" if n else "pending",
                        "created_at": old,
                        "updated_at": old,
                    }
                    for n in range(5)
                ],
            )
            await tx.execute(
                insert(delivery_attempts),
                [
                    {
                        "delivery_id": f"dlv_{n}",
                        "endpoint_id": "ep_1",
                        "event_id": f"e{n}",
                        "attempt": 1,
                        "trigger": "scheduled",
                        "started_at": old,
                        "url": "http://127.0.0.1:9/",
                        "request_headers": {},
                        "duration_ms": 1.0,
                        "success": True,
                    }
                    for n in range(1, 5)
                ],
            )
    finally:
        await hub.stop()

    hub = Hub(settings, clock=ManualClock(START))
    try:
        counts = await expire(hub)
        gone = {store_partitions.name_of(table, old) for table in TABLES}
        for table in TABLES:
            assert not gone & await _children(hub.database, table)
        async with hub.database.read() as connection:
            left = await connection.execute(
                text("SELECT count(*) FROM pg_class WHERE relname = ANY(:names)"),
                {"names": sorted(gone)},
            )
            assert left.scalar_one() == 0
            ids = await connection.execute(text("SELECT count(*) FROM event_ids"))
            assert ids.scalar_one() == 0
        # The open delivery was cancelled with its event, then went with its partition.
        assert counts["deliveries_cancelled"] == 1
        assert (counts["events"], counts["deliveries"], counts["attempts"]) == (5, 5, 4)
        # The old week's and those maintenance made ahead of it, of each table.
        assert counts["partitions"] == len(TABLES) * (store_partitions.AHEAD + 1)
        # A retry of an expired event's id is stored again, as before partitions.
        async with hub.database.transaction() as tx:
            fresh, _ = await event_writes(hub.database).admit(tx, [Stored("e1", START)], {})
        assert [event.id for event in fresh] == ["e1"]
    finally:
        await hub.stop()


@only_partitioned
async def test_a_partition_holding_longer_kept_events_stays(database_url: str) -> None:
    old = START - timedelta(days=120)
    settings = make_settings(
        database_url, retention_events_days=90, retention_event_types={"order.kept": 365}
    )
    hub = Hub(settings, clock=ManualClock(old))
    try:
        await maintain(hub)
        async with hub.database.transaction() as tx:
            await tx.execute(
                insert(events),
                [
                    {"id": kind, "type": kind, "data": {}, "occurred_at": old, "received_at": old}
                    for kind in ("order.paid", "order.kept")
                ],
            )
    finally:
        await hub.stop()
    hub = Hub(settings, clock=ManualClock(START))
    try:
        counts = await expire(hub)
        assert store_partitions.name_of("events", old) in await _children(hub.database, "events")
        async with hub.database.read() as connection:
            left = set((await connection.execute(select(events.c.id))).scalars())
        assert left == {"order.kept"} and counts["events"] == 1
    finally:
        await hub.stop()


def _downgrade_to_0027(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "0027")


@only_partitioned
async def test_the_migration_keeps_existing_rows(database: Database) -> None:
    async with database.unbounded() as connection:
        await connection.run_sync(_downgrade_to_0027)
    days = [START - timedelta(weeks=n) for n in range(3)]
    async with database.transaction() as tx:
        await tx.execute(
            insert(events),
            [
                {"id": f"e{n}", "type": "t", "data": {"n": n}, "occurred_at": at, "received_at": at}
                for n, at in enumerate(days)
            ],
        )
    await migrate(database)
    async with database.read() as connection:
        rows = await connection.execute(
            text("SELECT id, tableoid::regclass::text FROM events ORDER BY id")
        )
        placed = dict(rows.all())
        ids = await connection.execute(text("SELECT count(*) FROM event_ids"))
        assert ids.scalar_one() == 3
    assert placed == {f"e{n}": store_partitions.name_of("events", at) for n, at in enumerate(days)}
    # Ids copied with the rows still refuse a retry; new events get a seq past the old ones.
    async with database.transaction() as tx:
        fresh, _ = await event_writes(database).admit(
            tx, [Stored("e0", START), Stored("e_new", START)], {}
        )
    assert [event.id for event in fresh] == ["e_new"]
    async with database.read() as connection:
        seqs = dict((await connection.execute(select(events.c.id, events.c.seq))).all())
    assert seqs["e_new"] > max(seqs[f"e{n}"] for n in range(3))
