"""Reverse ETL: rows of a real database (a fresh one on the local PostgreSQL and MariaDB
servers, or a SQLite file) become profiles or events through the ``sql`` connector's pull
syncs, on Renkei's SQLite and PostgreSQL stores; the cursor is checkpointed, a rerun reads
only rows past it, and rows sharing a cursor value across a page boundary are all read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from renkei.clock import ManualClock
from renkei.connectors.connections import create_connection
from renkei.connectors.sql_syncs import ROW_ID
from renkei.events.profiles import vendor_ids
from renkei.flows.service import create_flow, list_runs
from renkei.store.tables.core import events
from renkei.syncs import SyncInvalid
from tests.connectors.sql_sources import SOURCES, Source, source_database
from tests.flows.receivers import receiver

from .harness import START, SyncRig, sync_rig

pytestmark = pytest.mark.timeout(180)

T1, T2, T3, T4 = (datetime(2026, 3, 1, h, 0) for h in (10, 11, 12, 13))
STAMP = {"postgresql": "TIMESTAMP", "mariadb": "DATETIME(6)", "sqlite": "TIMESTAMP"}
CUSTOMERS = "SELECT id, email, name, plan, customer_ref, updated_at FROM customers"


def at(source: Source, moment: datetime) -> Any:
    # SQLite keeps times as text: the same ISO form orders and compares correctly.
    return moment.isoformat(sep=" ") if source.kind == "sqlite" else moment


async def customers_table(source: Source, rows: list[tuple[int, str, datetime]]) -> None:
    await source.run(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(200), name VARCHAR(200),"
        f" plan VARCHAR(40), customer_ref VARCHAR(40), updated_at {STAMP[source.kind]} NULL)"
    )
    await add_customers(source, rows)


async def add_customers(source: Source, rows: list[tuple[int, str, datetime]]) -> None:
    await source.run(
        "INSERT INTO customers (id, email, name, plan, customer_ref, updated_at)"
        " VALUES (:id, :email, :name, :plan, :ref, :at)",
        params=[
            {
                "id": n,
                "email": f"Customer{n}@Example.com",
                "name": f"Customer {n}",
                "plan": plan,
                "ref": f"cus_{n}",
                "at": at(source, moment),
            }
            for n, plan, moment in rows
        ],
    )


async def connect(rig: SyncRig, url: str, name: str = "warehouse") -> None:
    async with rig.hub.database.transaction() as tx:
        await create_connection(
            tx,
            keyring=rig.hub.keyring,
            registry=rig.hub.connectors.registry,
            now=rig.clock.now(),
            name=name,
            connector="sql",
            credentials={"url": url},
        )


async def run_sync(rig: SyncRig, name: str) -> Any:
    await rig.syncs.run(name)
    await rig.run()
    return (await rig.syncs.runs(name))[0]


@pytest.mark.parametrize("kind", SOURCES)
async def test_rows_become_profiles_and_a_rerun_reads_only_rows_past_the_cursor(
    kind: str, database_url: str, tmp_path: Path
) -> None:
    async with (
        source_database(kind, tmp_path) as source,
        sync_rig(database_url, ManualClock(START)) as rig,
    ):
        # Three rows share T2, and pages of 2 cut through them twice.
        await customers_table(
            source,
            [(1, "free", T1), (2, "free", T2), (3, "pro", T2), (4, "pro", T2), (5, "free", T3)],
        )
        await connect(rig, source.url)
        sync = await rig.syncs.create(
            {
                "name": "customers",
                "connection": "warehouse",
                "direction": "pull",
                "object": "rows",
                "config": {
                    "query": CUSTOMERS,
                    "cursor_column": "updated_at",
                    "page_size": 2,
                    "identities": {"user_id": "customer_ref"},
                },
            }
        )
        first = await run_sync(rig, "customers")
        assert (first.status, first.errors) == ("succeeded", [])
        assert (first.counts["read"], first.counts["created"], first.counts["calls"]) == (5, 5, 3)
        cursor = (await rig.syncs.get(sync.id)).cursor
        assert cursor is not None
        assert cursor["id"] == {"type": "int", "value": 5}
        assert cursor["cursor"]["value"].replace("T", " ").startswith("2026-03-01 12:00:00")

        connection_id = await rig.connection_id("warehouse")
        for n, plan in ((1, "free"), (3, "pro"), (4, "pro")):
            profile = await rig.profile(f"customer{n}@example.com")
            assert profile is not None, n
            assert profile.traits["name"]["value"] == f"Customer {n}"
            assert profile.traits["plan"]["value"] == plan
            assert profile.values("user_id") == [f"cus_{n}"]
            assert vendor_ids(profile, ROW_ID, connection_id) == [str(n)]

        # A new row at the checkpoint's own time (a higher id), a later one, and an update.
        await add_customers(source, [(6, "pro", T3), (7, "free", T4)])
        await source.run(
            "UPDATE customers SET plan = 'gold', updated_at = :at WHERE id = 1",
            params=[{"at": at(source, T4)}],
        )
        second = await run_sync(rig, "customers")
        assert (second.status, second.counts["read"], second.counts["created"]) == (
            "succeeded",
            3,
            2,
        )
        assert second.counts["updated"] == 1
        updated = await rig.profile("customer1@example.com")
        assert updated.traits["plan"]["value"] == "gold"
        assert await rig.profile("customer6@example.com") is not None
        assert await rig.profile("customer7@example.com") is not None

        third = await run_sync(rig, "customers")
        assert (third.status, third.counts["read"]) == ("succeeded", 0)


@pytest.mark.parametrize("kind", SOURCES)
async def test_rows_become_events_that_trigger_a_flow_once(
    kind: str, database_url: str, tmp_path: Path
) -> None:
    async with (
        source_database(kind, tmp_path) as source,
        sync_rig(database_url, ManualClock(START)) as rig,
    ):
        await source.run(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, email VARCHAR(200), item VARCHAR(40),"
            f" amount DECIMAL(10, 2), created_at {STAMP[source.kind]} NOT NULL)",
        )
        await source.run(
            "INSERT INTO orders (id, email, item, amount, created_at)"
            " VALUES (:id, :email, :item, :amount, :at)",
            params=[
                {
                    "id": 1,
                    "email": "a@example.com",
                    "item": "book",
                    "amount": 12.5,
                    "at": at(source, T1),
                },
                {
                    "id": 2,
                    "email": "b@example.com",
                    "item": "pen",
                    "amount": 3,
                    "at": at(source, T2),
                },
            ],
        )
        await connect(rig, source.url)
        with receiver() as hooks:
            async with rig.hub.database.transaction() as tx:
                flow = await create_flow(
                    rig.hub,
                    tx,
                    {
                        "name": "orders",
                        "trigger": {"event_types": ["order.placed"]},
                        "steps": [{"id": "notify", "action": {"url": hooks.url + "/order"}}],
                    },
                )
            await rig.syncs.create(
                {
                    "name": "orders",
                    "connection": "warehouse",
                    "direction": "pull",
                    "object": "events",
                    "config": {
                        "query": "SELECT id, email, item, amount, created_at FROM orders",
                        "cursor_column": "created_at",
                        "event_type": "order.placed",
                        "name_column": "item",
                    },
                }
            )
            first = await run_sync(rig, "orders")
            assert (first.status, first.counts["created"]) == ("succeeded", 2)
            # Read again from the start: the same rows are the same events, not new ones.
            await rig.syncs.run("orders", from_start=True)
            await rig.run()
            again = (await rig.syncs.runs("orders"))[0]
            assert (again.counts["read"], again.counts["created"], again.counts["skipped"]) == (
                2,
                0,
                2,
            )
            stored = await rig.events_of_type("order.placed")
            assert sorted((e["name"], e["email"]) for e in stored) == [
                ("book", "a@example.com"),
                ("pen", "b@example.com"),
            ]
            book = next(e for e in stored if e["name"] == "book")
            assert book["data"]["amount"] == 12.5
            assert book["occurred_at"].replace(tzinfo=None) == T1
            async with rig.hub.database.read() as connection:
                runs = await list_runs(connection, flow.id, limit=10)
            assert len(runs) == 2
            # The flow's step posted each row's columns (the event's data) to the receiver.
            delivered = sorted((r.json()["item"], r.json()["amount"]) for r in hooks.to("/order"))
            assert delivered == [("book", 12.5), ("pen", 3)]


async def test_a_query_that_writes_is_refused_when_the_sync_is_saved(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        source_database("sqlite", tmp_path) as source,
        sync_rig(database_url, ManualClock(START)) as rig,
    ):
        await customers_table(source, [(1, "free", T1)])
        await connect(rig, source.url)
        for query, reason in (
            ("DELETE FROM customers", "only SELECT"),
            ("SELECT 1; DROP TABLE customers", "single statement"),
            ("WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone", "DELETE"),
            ("SELECT * INTO backup FROM customers", "INTO"),
        ):
            with pytest.raises(SyncInvalid, match=reason):
                await rig.syncs.create(
                    {
                        "name": "bad",
                        "connection": "warehouse",
                        "direction": "pull",
                        "object": "rows",
                        "config": {"query": query, "cursor_column": "updated_at"},
                    }
                )
        with pytest.raises(SyncInvalid, match="cursor_column is required"):
            await rig.syncs.create(
                {
                    "name": "bad",
                    "connection": "warehouse",
                    "direction": "pull",
                    "object": "rows",
                    "config": {"query": CUSTOMERS},
                }
            )
        assert await source.scalar("SELECT count(*) FROM customers") == 1
        async with rig.hub.database.read() as connection:
            assert (await connection.execute(select(events.c.id))).first() is None


async def test_a_query_that_fails_at_run_time_fails_the_run_with_the_reason(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        source_database("mariadb", tmp_path) as source,
        sync_rig(database_url, ManualClock(START)) as rig,
    ):
        await customers_table(source, [(1, "free", T1)])
        await connect(rig, source.url)
        await rig.syncs.create(
            {
                "name": "customers",
                "connection": "warehouse",
                "direction": "pull",
                "object": "rows",
                "config": {"query": CUSTOMERS, "cursor_column": "updated_at"},
            }
        )
        await source.run("DROP TABLE customers")
        failed = await run_sync(rig, "customers")
        assert failed.status == "failed"
        assert "customers" in str(failed.errors), failed.errors
        assert (await rig.syncs.get("customers")).cursor is None
