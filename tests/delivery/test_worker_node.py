"""Issue 21, defect 1 with a separate ``renkei worker`` process next to an API node: the
worker's endpoint catalog is older than the API node's changes (a resume, a new endpoint),
and no delivery of an enabled endpoint ends ``held`` or ``cancelled`` because of it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from renkei.security.keyring import generate_key
from tests.delivery.test_delivery_e2e import make_endpoint
from tests.delivery.test_delivery_order_rate import WorkerProcesses
from tests.delivery.test_pause_resume import publish, publish_typed, settle, statuses
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.slow

CONCURRENCY = 8
EVENTS = 3 * CONCURRENCY
# The worker trusts its catalog this long: what it saw stays its view for the whole test.
WORKER_SETTINGS = {
    "worker_concurrency": str(CONCURRENCY),
    "worker_batch_size": str(CONCURRENCY),
    "endpoint_refresh_seconds": "30",
    "retry_schedule": "0.2,0.4,0.8",
}


def test_resume_through_the_api_node_while_the_worker_saw_the_pause(
    database_url: str, key: str, tmp_path: Path
) -> None:
    worker = WorkerProcesses(database_url, key, tmp_path, **WORKER_SETTINGS)
    with (
        Receiver() as receiver,
        running_hub(database_url, with_worker=False, secret_key=[key]) as (base_url, _),
    ):
        client = admin_client(base_url)
        endpoint = make_endpoint(client, receiver.url, event_types=["order.paid"])
        make_endpoint(client, receiver.url, event_types=["canary"])
        assert client.post(f"/api/v1/endpoints/{endpoint['id']}/pause").status_code == 200
        try:
            worker.start(1)
            # The worker's first job loads its catalog: the endpoint is paused there.
            publish_typed(client, "canary")
            wait_until(lambda: len(receiver.requests) == 1, timeout=60)
            publish(client, EVENTS)
            assert statuses(database_url) == Counter({"held": EVENTS, "succeeded": 1})
            assert client.post(f"/api/v1/endpoints/{endpoint['id']}/resume").status_code == 200
            assert settle(database_url, EVENTS + 1) == {"succeeded": EVENTS + 1}
        finally:
            worker.stop()
        assert len(set(receiver.ids())) == EVENTS + 1


def test_a_burst_right_after_creating_an_endpoint_reaches_it(
    database_url: str, key: str, tmp_path: Path
) -> None:
    worker = WorkerProcesses(database_url, key, tmp_path, **WORKER_SETTINGS)
    with (
        Receiver() as receiver,
        running_hub(database_url, with_worker=False, secret_key=[key]) as (base_url, _),
    ):
        client = admin_client(base_url)
        make_endpoint(client, receiver.url, event_types=["canary"])
        try:
            worker.start(1)
            publish_typed(client, "canary")
            wait_until(lambda: len(receiver.requests) == 1, timeout=60)
            # Created after the worker loaded its catalog: the worker does not know it.
            make_endpoint(client, receiver.url, event_types=["order.paid"])
            publish(client, EVENTS)
            assert settle(database_url, EVENTS + 1) == {"succeeded": EVENTS + 1}
        finally:
            worker.stop()
        assert len(set(receiver.ids())) == EVENTS + 1


@pytest.fixture
def key() -> str:
    return generate_key()
