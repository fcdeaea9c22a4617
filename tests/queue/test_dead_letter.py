"""A job that fails for good tells what it belonged to (issue 14, task 9): the delivery
whose send job died shows it failed, and why, instead of staying ``pending`` for ever.
ManualClock and real HTTP; the failure is real: an event stored before depth limits
existed, too deep for the serializer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from renkei.clock import ManualClock
from renkei.delivery.endpoints import create_endpoint
from renkei.delivery.fanout import SEND_TASK
from renkei.delivery.publishing import publish
from renkei.hub import Hub
from renkei.store.tables.core import jobs
from renkei.store.tables.webhooks import deliveries
from tests.delivery.webhook_receiver import Receiver
from tests.support.server import test_settings as settings_for

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    hub = Hub(settings_for(database_url), clock=clock)
    await hub.start(with_worker=False)
    yield hub
    await hub.stop()


async def test_a_delivery_whose_send_job_dies_shows_failed_and_why(hub: Hub) -> None:
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    with Receiver() as receiver:
        async with hub.database.transaction() as tx:
            await create_endpoint(
                tx,
                hub.keyring,
                {"name": "e", "url": receiver.url},
                now=clock.now(),
                https_only=False,
            )
        published = await publish(hub.webhooks, event_type="order.deep", data={})
        event_id = published.body["id"]
        deep = '{"a":' * 300 + "1" + "}" * 300
        value = "CAST(:data AS jsonb)" if not hub.database.is_sqlite else ":data"
        async with hub.database.transaction() as tx:
            await tx.execute(
                text(f"UPDATE events SET data = {value} WHERE id = :id"),
                {"data": deep, "id": event_id},
            )

        async def state() -> tuple[Any, Any]:
            async with hub.database.read() as connection:
                delivery = (
                    await connection.execute(
                        select(deliveries).where(deliveries.c.event_id == event_id)
                    )
                ).one()
                job = (
                    await connection.execute(select(jobs.c.status).where(jobs.c.task == SEND_TASK))
                ).all()
            return delivery, job

        worker = hub.new_worker(run_schedules=False)
        for _ in range(60):  # the send task's retry policy: 30 attempts, at most 300 s apart
            await worker.run_burst()
            _, job = await state()
            if [row.status for row in job] == ["dead"]:
                break
            clock.advance(301)
        delivery, job = await state()
        assert [row.status for row in job] == ["dead"]
        assert delivery.status == "exhausted"
        assert "Recursion limit reached" in delivery.last_error
        assert receiver.snapshot() == []
