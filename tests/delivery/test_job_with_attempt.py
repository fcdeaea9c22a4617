"""A delivery job is completed in the transaction that records its attempt (one write
transaction per batch of attempts instead of two); a failed attempt still leaves the job
to the worker, which schedules the retry. Real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select

from renkei.delivery.endpoints import create_endpoint
from renkei.delivery.publishing import publish
from renkei.hub import Hub
from renkei.queue.jobs import Finished
from renkei.store.tables.core import jobs
from renkei.store.tables.webhooks import deliveries, delivery_attempts
from tests.delivery.webhook_receiver import Received, Receiver
from tests.support.server import test_settings as settings_for


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    hub = Hub(settings_for(database_url))
    await hub.start(with_worker=False)
    yield hub
    await hub.webhooks.close()
    await hub.stop()


async def _publish_to(hub: Hub, url: str) -> str:
    async with hub.database.transaction() as tx:
        await create_endpoint(
            tx, hub.keyring, {"name": "e", "url": url}, now=hub.clock.now(), https_only=False
        )
    published = await publish(hub.webhooks, event_type="t", data={"n": 1})
    return str(published.body["id"])


def _spy_finish(hub: Hub) -> list[Finished]:
    """What the worker hands to ``JobQueue.finish`` (which still runs)."""
    handed: list[Finished] = []
    finish = hub.queue.finish

    async def spied(results: Sequence[Finished]) -> None:
        handed.extend(results)
        await finish(results)

    hub.queue.finish = spied  # type: ignore[method-assign]
    return handed


async def _rows(hub: Hub, event_id: str) -> tuple[Any, list[Any], list[Any]]:
    async with hub.database.read() as connection:
        delivery = (
            await connection.execute(deliveries.select().where(deliveries.c.event_id == event_id))
        ).one()
        attempts = (
            await connection.execute(
                select(delivery_attempts.c.success).where(
                    delivery_attempts.c.delivery_id == delivery.id
                )
            )
        ).all()
        left = (
            await connection.execute(select(jobs.c.status).where(jobs.c.task == "deliveries.send"))
        ).all()
    return delivery, attempts, left


async def test_a_delivered_event_completes_its_job_with_the_attempt(hub: Hub) -> None:
    with Receiver() as receiver:
        event_id = await _publish_to(hub, receiver.url)
        handed = _spy_finish(hub)
        assert await hub.new_worker(run_schedules=False).run_burst() == 1
    delivery, attempts, left = await _rows(hub, event_id)
    assert delivery.status == "succeeded"
    assert [row.success for row in attempts] == [True]
    assert left == []
    # The job was already deleted by the attempt's transaction: nothing left to write.
    assert [result.written for result in handed] == [True]


async def test_a_failed_attempt_leaves_the_job_to_be_retried(hub: Hub) -> None:
    def fail(_: Received, __: int) -> int:
        return 500

    with Receiver(behaviour=fail) as receiver:
        event_id = await _publish_to(hub, receiver.url)
        handed = _spy_finish(hub)
        assert await hub.new_worker(run_schedules=False).run_burst() == 1
    delivery, attempts, left = await _rows(hub, event_id)
    assert delivery.status == "failed"
    assert [row.success for row in attempts] == [False]
    assert [row.status for row in left] == ["scheduled"]
    assert [result.written for result in handed] == [False]
