"""Migration 0015 moves the flows' and syncs' schedules into the queue's ``schedules``
table (keeping each next tick), drops the two pollers' rows and ``flow_schedules``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import Connection, String, column, insert, inspect, select, table

from renkei.store import Database, migrate
from renkei.store.migrate import alembic_config
from renkei.store.tables import jobs, schedules
from renkei.store.tables.flows import flow_versions, flows
from renkei.store.tables.syncs import syncs
from renkei.store.types import UTCDateTime

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
flow_schedules = table(
    "flow_schedules",
    column("flow_id", String),
    column("next_run_at", UTCDateTime),
    column("last_run_at", UTCDateTime),
)


def _downgrade_to_0014(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "0014")


def _tables(connection: Connection) -> list[str]:
    return inspect(connection).get_table_names()


async def test_flow_and_sync_schedules_become_the_queues(database: Database) -> None:
    async with database.unbounded() as connection:
        await connection.run_sync(_downgrade_to_0014)
    hourly, weekly = NOW + timedelta(minutes=20), NOW + timedelta(days=3)
    async with database.transaction() as tx:
        for flow_id, schedule in (("flow_1", {"every": "1h"}), ("flow_2", {"cron": "0 8 * * 1"})):
            await tx.execute(
                insert(flows).values(
                    id=flow_id,
                    name=flow_id,
                    description="",
                    enabled=True,
                    version=1,
                    signing_secret="sealed",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            await tx.execute(
                insert(flow_versions).values(
                    flow_id=flow_id,
                    version=1,
                    spec={"trigger": {"schedule": schedule}, "steps": []},
                    created_at=NOW,
                )
            )
        await tx.execute(
            insert(flow_schedules),
            [
                {"flow_id": "flow_1", "next_run_at": hourly, "last_run_at": NOW},
                {"flow_id": "flow_2", "next_run_at": weekly, "last_run_at": None},
            ],
        )
        await tx.execute(
            insert(syncs).values(
                id="sync_1",
                name="leads",
                connection="marketo",
                direction="pull",
                object="leads",
                config={},
                trigger={"every_seconds": 1800},
                enabled=True,
                next_run_at=hourly,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await tx.execute(
            insert(jobs).values(
                queue="syncs",
                task="syncs.tick",
                payload={},
                status="scheduled",
                run_at=NOW,
                attempts=0,
                max_attempts=5,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        for poller in ("flows.schedule", "syncs.tick"):
            await tx.execute(
                insert(schedules).values(
                    name=poller,
                    task=poller,
                    queue="default",
                    payload={},
                    every_seconds=30,
                    next_run_at=NOW,
                )
            )

    await migrate(database)

    async with database.read() as connection:
        rows = {
            row.name: row
            for row in await connection.execute(select(schedules).order_by(schedules.c.name))
        }
        assert "flow_schedules" not in await connection.run_sync(_tables)
        assert (await connection.execute(select(jobs.c.task))).all() == []
    assert set(rows) == {"flow:flow_1", "flow:flow_2", "sync:sync_1"}
    flow_1, flow_2, sync_1 = rows["flow:flow_1"], rows["flow:flow_2"], rows["sync:sync_1"]
    assert (flow_1.task, flow_1.queue, flow_1.payload) == (
        "flows.schedule",
        "flows",
        {"flow_id": "flow_1"},
    )
    assert (flow_1.every_seconds, flow_1.cron, flow_1.next_run_at, flow_1.last_run_at) == (
        3600,
        None,
        hourly,
        NOW,
    )
    assert (flow_2.every_seconds, flow_2.cron, flow_2.next_run_at) == (None, "0 8 * * 1", weekly)
    assert (sync_1.task, sync_1.queue, sync_1.payload) == (
        "syncs.schedule",
        "syncs",
        {"sync_id": "sync_1"},
    )
    assert (sync_1.every_seconds, sync_1.next_run_at) == (1800, hourly)
