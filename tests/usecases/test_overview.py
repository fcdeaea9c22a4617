"""``usecases.overview`` on both backends, on a ManualClock: what the overview counts and
the hour each delivery falls in (the CASE that picks the hour must group the same on
PostgreSQL as on SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from renkei.clock import ManualClock
from renkei.errors import Forbidden
from renkei.hub import Hub
from renkei.security.tokens import Principal
from renkei.store.tables.flows import flow_runs, flows
from renkei.store.tables.syncs import sync_runs, syncs
from renkei.usecases import LOCAL
from renkei.usecases import webhooks as cases
from renkei.usecases.overview import deliveries_by_hour, overview
from tests.support.server import test_settings as settings_for

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    hub = Hub(settings_for(database_url), clock=ManualClock(START))
    await hub.start(with_worker=False)
    yield hub
    await hub.stop()


async def publish(hub: Hub, count: int) -> None:
    for number in range(count):
        await cases.publish(hub, LOCAL, event_type="receipt.validated", data={"n": number})


async def test_deliveries_fall_in_their_hour(hub: Hub) -> None:
    assert isinstance(hub.clock, ManualClock)
    await cases.create_event_type(hub, LOCAL, name="receipt.validated")
    endpoint = await cases.create_endpoint(
        hub, LOCAL, {"name": "CRM", "url": "https://crm.example.com/hook"}
    )
    hub.clock.set(START - timedelta(hours=30))  # outside the window
    await publish(hub, 1)
    hub.clock.set(START - timedelta(hours=3))  # 06:30, three hours before 09:30
    await publish(hub, 2)
    hub.clock.set(START)
    await publish(hub, 1)

    hours = await deliveries_by_hour(hub, LOCAL, endpoint_id=endpoint.id)
    assert len(hours) == 24
    assert hours[-1].start == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert [(hour.start.hour, hour.counts) for hour in hours if hour.total] == [
        (6, {"pending": 2}),
        (9, {"pending": 1}),
    ]
    assert sum(hour.total for hour in await deliveries_by_hour(hub, LOCAL, endpoint_id="ep_x")) == 0

    summary = await overview(hub, LOCAL)
    assert summary.events_received == 3
    assert summary.deliveries["pending"] == 3


async def test_the_overview_needs_a_token_that_may_read(hub: Hub) -> None:
    reader = Principal("tok_r", "reader", "read")
    await overview(hub, reader)
    await deliveries_by_hour(hub, reader)
    with pytest.raises(Forbidden):
        await overview(hub, Principal("tok_x", "nobody", "none"))  # type: ignore[arg-type]


async def test_failed_flow_and_sync_runs_are_open_problems(hub: Hub) -> None:
    now = hub.clock.now()
    async with hub.database.transaction() as tx:
        for flow_id, name, deleted in (("flw_1", "Receipts to CRM", None), ("flw_2", "Gone", now)):
            await tx.execute(
                insert(flows).values(
                    id=flow_id,
                    name=name,
                    version=1,
                    signing_secret="x",
                    created_at=now,
                    updated_at=now,
                    deleted_at=deleted,
                )
            )
            for run in range(2):
                await tx.execute(
                    insert(flow_runs).values(
                        id=f"run_{flow_id}_{run}",
                        flow_id=flow_id,
                        version=1,
                        event_id=f"evt_{run}",
                        status="failed",
                        context={},
                        started_at=now - timedelta(hours=run * 30),  # the second: too old
                        updated_at=now,
                    )
                )
        await tx.execute(
            insert(syncs).values(
                id="syn_1",
                name="Marketo leads",
                connection="marketo",
                direction="push",
                object="lead",
                config={},
                trigger={},
                enabled=True,
                created_at=now,
                updated_at=now,
            )
        )
        counts = dict.fromkeys(("read", "created", "updated", "skipped", "failed", "calls"), 0)
        for run, status in enumerate(("failed", "succeeded")):
            await tx.execute(
                insert(sync_runs).values(
                    id=f"srun_{run}",
                    sync_id="syn_1",
                    trigger="manual",
                    status=status,
                    errors=[],
                    started_at=now,
                    **counts,
                )
            )
    summary = await overview(hub, LOCAL)
    assert [(f.id, f.name, f.failed) for f in summary.failing_flows] == [
        ("flw_1", "Receipts to CRM", 1)
    ]
    assert [(s.name, s.failed) for s in summary.failing_syncs] == [("Marketo leads", 1)]
    assert summary.problems
