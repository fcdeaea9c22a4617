"""Issue 21, defect 1: a delivery of an existing, enabled endpoint always ends delivered,
failed or exhausted, never ``held`` or ``cancelled`` because a job looked at an old copy
of the endpoint catalog. Real HTTP on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AbstractContextManager
from typing import Any

import httpx
from sqlalchemy import select

from renkei.hub import Hub
from renkei.store import Database
from renkei.store.tables import jobs
from renkei.store.tables.webhooks import deliveries
from tests.delivery.test_delivery_e2e import make_endpoint
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as settings_for

CONCURRENCY = 8
EVENTS = 3 * CONCURRENCY
QUICK: dict[str, Any] = {
    "retry_schedule": (0.2, 0.4, 0.8),
    "retry_jitter": 0.0,
    "worker_poll_interval": 0.05,
    "worker_concurrency": CONCURRENCY,
    "worker_batch_size": CONCURRENCY,
    # Long enough that a copy of the catalog taken before a change is still in use after it.
    "endpoint_refresh_seconds": 30.0,
}


def statuses(url: str) -> Counter[str]:
    async def go() -> Counter[str]:
        database = Database(url)
        try:
            async with database.read() as connection:
                rows = await connection.execute(select(deliveries.c.status))
                return Counter(status for (status,) in rows)
        finally:
            await database.dispose()

    return asyncio.run(go())


def publish(client: httpx.Client, count: int) -> list[str]:
    ids = []
    for n in range(count):
        response = client.post("/api/v1/events", json={"type": "order.paid", "data": {"n": n}})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def delivery_jobs_left(url: str) -> int:
    async def go() -> int:
        database = Database(url)
        try:
            async with database.read() as connection:
                rows = await connection.execute(
                    select(jobs.c.id).where(
                        jobs.c.task.in_(("deliveries.send", "deliveries.lane")),
                        jobs.c.status.in_(("scheduled", "running")),
                    )
                )
                return len(rows.all())
        finally:
            await database.dispose()

    return asyncio.run(go())


def settle(url: str, total: int) -> Counter[str]:
    """Wait until every delivery exists and no job will move one any more; their statuses."""
    wait_until(lambda: sum(statuses(url).values()) == total, timeout=30)
    wait_until(lambda: delivery_jobs_left(url) == 0, timeout=60)
    return statuses(url)


def test_pause_publish_resume_delivers_every_event(database_url: str) -> None:
    """Resume releases the held deliveries while the jobs run on a catalog read before it."""
    with Receiver() as receiver, running_hub(database_url, **QUICK) as (base_url, _):
        client = admin_client(base_url)
        endpoint = make_endpoint(client, receiver.url)
        for _round in range(3):
            assert client.post(f"/api/v1/endpoints/{endpoint['id']}/pause").status_code == 200
            publish(client, EVENTS)
            assert client.post(f"/api/v1/endpoints/{endpoint['id']}/resume").status_code == 200
        total = 3 * EVENTS
        assert settle(database_url, total) == {"succeeded": total}
        assert len(set(receiver.ids())) == total


def test_a_burst_right_after_creating_an_endpoint_cancels_nothing(database_url: str) -> None:
    """An API node and a worker node: the worker loaded its catalog before the endpoint
    existed, and trusts that copy for ``endpoint_refresh_seconds``."""
    api, worker = api_and_worker_nodes(database_url)
    with Receiver() as receiver, api as (base_url, _), worker:
        client = admin_client(base_url)
        make_endpoint(client, receiver.url, event_types=["other.thing"])
        publish_typed(client, "other.thing")
        wait_until(lambda: len(receiver.requests) == 1)
        make_endpoint(client, receiver.url, event_types=["order.paid"])
        publish(client, EVENTS)
        assert settle(database_url, EVENTS + 1) == {"succeeded": EVENTS + 1}


def test_pause_publish_resume_through_an_api_node_and_a_worker_node(database_url: str) -> None:
    api, worker = api_and_worker_nodes(database_url)
    with Receiver() as receiver, api as (base_url, _), worker as (worker_url, worker_hub):
        client = admin_client(base_url)
        endpoint = make_endpoint(client, receiver.url, event_types=["order.paid"])
        publish(client, 1)
        assert settle(database_url, 1) == {"succeeded": 1}
        for _round in range(3):
            assert client.post(f"/api/v1/endpoints/{endpoint['id']}/pause").status_code == 200
            # The worker node's refresh interval has passed and it reloads its catalog
            # (an event that matches nothing, published there): it has seen the pause, and
            # keeps that copy for 30 s.
            worker_hub.webhooks.catalog.invalidate()
            publish_typed(admin_client(worker_url), "nothing.matches")
            publish(client, EVENTS)
            assert client.post(f"/api/v1/endpoints/{endpoint['id']}/resume").status_code == 200
        total = 1 + 3 * EVENTS
        assert settle(database_url, total) == {"succeeded": total}
        assert len(set(receiver.ids())) == total


def api_and_worker_nodes(
    database_url: str,
) -> tuple[AbstractContextManager[tuple[str, Hub]], AbstractContextManager[tuple[str, Hub]]]:
    """Two hubs on one database, as two processes would be: changes committed through the
    API node do not invalidate the worker node's catalog. They share the secret key."""
    settings = settings_for(database_url, **QUICK)
    api = running_hub(database_url, with_worker=False, hub=Hub(settings))
    worker = running_hub(database_url, hub=Hub(settings))
    return api, worker


def publish_typed(client: httpx.Client, event_type: str) -> Any:
    response = client.post("/api/v1/events", json={"type": event_type, "data": {}})
    assert response.status_code == 201, response.text
    return response.json()
