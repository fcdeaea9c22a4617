"""The reconciler finds deliveries no job will move and requeues them; decisions to park or
drop a delivery are taken against the database, not the catalog. ManualClock, real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from renkei.clock import ManualClock
from renkei.delivery.endpoints import create_endpoint, set_disabled
from renkei.delivery.publishing import publish
from renkei.delivery.reconcile import RECONCILED, reconcile
from renkei.delivery.service import Webhooks
from renkei.hub import Hub
from renkei.store.tables.core import jobs
from renkei.store.tables.webhooks import deliveries
from tests.delivery.webhook_receiver import Receiver
from tests.support.server import test_settings as settings_for

GRACE = 60.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def hub(database_url: str, clock: ManualClock) -> AsyncIterator[Hub]:
    hub = Hub(settings_for(database_url, delivery_reconcile_seconds=GRACE), clock=clock)
    await hub.start(with_worker=False)
    yield hub
    await hub.stop()


async def add_endpoint(hub: Hub, url: str, **fields: Any) -> str:
    async with hub.database.transaction() as tx:
        endpoint = await create_endpoint(
            tx,
            hub.keyring,
            {"name": "e", "url": url, **fields},
            now=hub.clock.now(),
            https_only=False,
        )
    return endpoint.id


async def publish_many(hub: Hub, count: int) -> None:
    webhooks: Webhooks = hub.webhooks
    for n in range(count):
        await publish(webhooks, event_type="order.paid", data={"n": n})


async def statuses(hub: Hub) -> list[str]:
    async with hub.database.read() as connection:
        return sorted((await connection.execute(select(deliveries.c.status))).scalars())


async def burst(hub: Hub) -> int:
    return await hub.new_worker(run_schedules=False).run_burst()


def reconciled(state: str) -> float:
    return RECONCILED.labels(state)._value.get()


async def test_stuck_deliveries_are_found_and_requeued(hub: Hub, clock: ManualClock) -> None:
    with Receiver() as receiver:
        unordered = await add_endpoint(hub, receiver.url)
        await publish_many(hub, 6)
        async with hub.database.transaction() as tx:
            ids = list(
                (await tx.execute(select(deliveries.c.id).order_by(deliveries.c.seq))).scalars()
            )
            # Stuck as the issue saw them: held on an enabled endpoint, pending without a job
            # (its job was lost), failed whose job went to dead letter.
            await tx.execute(
                update(deliveries).where(deliveries.c.id.in_(ids[:2])).values(status="held")
            )
            await tx.execute(delete(jobs).where(jobs.c.payload["d"].as_string().in_(ids[:4])))
            await tx.execute(
                update(deliveries).where(deliveries.c.id == ids[4]).values(status="failed")
            )
            await tx.execute(
                update(jobs).where(jobs.c.payload["d"].as_string() == ids[4]).values(status="dead")
            )
        before = {state: reconciled(state) for state in ("held", "orphaned")}
        # Too recent: a resume or fan-out may be in progress; left alone.
        assert (await reconcile(hub.webhooks)).total == 0
        clock.advance(GRACE + 1)
        found = await reconcile(hub.webhooks)
        assert (found.held, found.orphaned, found.lanes) == (2, 3, 0)
        assert reconciled("held") - before["held"] == 2
        assert reconciled("orphaned") - before["orphaned"] == 3
        # Found once: each has its job now.
        assert (await reconcile(hub.webhooks)).total == 0
        await burst(hub)
        assert await statuses(hub) == ["succeeded"] * 6
        assert sorted(set(receiver.ids())) == sorted({row for row in await event_ids(hub)})
        assert unordered


async def event_ids(hub: Hub) -> list[str]:
    async with hub.database.read() as connection:
        return list((await connection.execute(select(deliveries.c.event_id))).scalars())


async def test_a_stuck_ordered_lane_is_given_a_job(hub: Hub, clock: ManualClock) -> None:
    with Receiver() as receiver:
        await add_endpoint(hub, receiver.url, ordered=True, ordering_key="data.n")
        await publish_many(hub, 3)
        async with hub.database.transaction() as tx:
            await tx.execute(delete(jobs).where(jobs.c.task == "deliveries.lane"))
            from renkei.store.tables.webhooks import delivery_lanes

            await tx.execute(update(delivery_lanes).values(active=False))
        clock.advance(GRACE + 1)
        found = await reconcile(hub.webhooks)
        assert found.lanes == 3
        await burst(hub)
        assert await statuses(hub) == ["succeeded"] * 3
        assert len(receiver.requests) == 3


async def test_a_paused_endpoints_held_deliveries_stay_held(hub: Hub, clock: ManualClock) -> None:
    with Receiver() as receiver:
        endpoint_id = await add_endpoint(hub, receiver.url)
        async with hub.database.transaction() as tx:
            await set_disabled(tx, endpoint_id, True, now=clock.now())
        await publish_many(hub, 2)
        clock.advance(GRACE + 1)
        assert (await reconcile(hub.webhooks)).total == 0
        assert await statuses(hub) == ["held", "held"]


async def test_a_job_with_an_old_catalog_asks_the_database_before_parking(
    hub: Hub, clock: ManualClock
) -> None:
    """The job's catalog says the endpoint is paused; it was resumed since (by another
    process, which does not invalidate this one's catalog): the delivery is sent."""
    with Receiver() as receiver:
        endpoint_id = await add_endpoint(hub, receiver.url)
        webhooks: Webhooks = hub.webhooks
        async with hub.database.transaction() as tx:
            await set_disabled(tx, endpoint_id, True, now=clock.now())
        await webhooks.catalog.get()
        # Another process resumes it and publishes: not through this hub, so no invalidation.
        other = Hub(hub.settings, clock=clock)
        try:
            async with other.database.transaction() as tx:
                await set_disabled(tx, endpoint_id, False, now=clock.now())
            await publish_many(other, 3)
        finally:
            await other.stop()
        assert (await webhooks.catalog.get()).targets[endpoint_id].endpoint.disabled
        await burst(hub)
        assert await statuses(hub) == ["succeeded"] * 3
        assert len(receiver.requests) == 3


async def test_concurrent_readers_never_get_the_snapshot_from_before_a_local_change(
    hub: Hub, clock: ManualClock
) -> None:
    """While one caller reloads after a change committed here, the others wait for it
    instead of taking the old snapshot."""
    with Receiver() as receiver:
        endpoint_id = await add_endpoint(hub, receiver.url)
        webhooks: Webhooks = hub.webhooks
        assert not (await webhooks.catalog.get()).targets[endpoint_id].endpoint.disabled
        async with hub.database.transaction() as tx:
            await set_disabled(tx, endpoint_id, True, now=clock.now())
        seen = await asyncio.gather(*(webhooks.catalog.get() for _ in range(20)))
        assert all(snapshot.targets[endpoint_id].endpoint.disabled for snapshot in seen)
