"""RENKEI_DELIVERY_MAX_BACKLOG: past the bound, publishing and ingest answer 503 with
Retry-After instead of an ack the workers would fall ever further behind on; nothing acked
is lost, and once the backlog drains publishing is accepted again. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import threading
from typing import Any

import httpx

from tests.delivery.test_delivery_e2e import make_endpoint
from tests.delivery.webhook_receiver import Received, Receiver, wait_until
from tests.events.conftest import query
from tests.support.server import admin_client, running_hub

BOUND = 5


def test_publishing_is_refused_past_the_backlog_bound_and_nothing_acked_is_lost(
    database_url: str,
) -> None:
    gate = threading.Event()

    def stalled(_: Received, __: int) -> int:
        # The receiver hangs until the gate opens: the one worker slot waits on it and
        # every later delivery stays due.
        gate.wait(60)
        return 204

    settings: dict[str, Any] = {
        "delivery_max_backlog": BOUND,
        "worker_concurrency": 1,
        "worker_batch_size": 1,
        "worker_poll_interval": 0.05,
    }
    with (
        Receiver(behaviour=stalled) as receiver,
        running_hub(database_url, **settings) as (base_url, _),
        admin_client(base_url) as client,
    ):
        try:
            make_endpoint(client, receiver.url)
            acked: list[str] = []
            refused: httpx.Response | None = None
            for n in range(200):
                response = client.post(
                    "/api/v1/events", json={"type": "order.paid", "data": {"n": n}}
                )
                if response.status_code != 201:
                    refused = response
                    break
                acked.append(response.json()["id"])
            assert refused is not None, "the backlog bound never refused a publish"
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "overloaded"
            assert int(refused.headers["retry-after"]) >= 1
            # One process: the bound holds exactly (one delivery may be in flight, not due).
            assert 1 <= len(acked) <= BOUND + 1

            keyed = client.post(
                "/api/v1/events",
                json={"type": "order.paid", "data": {}},
                headers={"Idempotency-Key": "k-1"},
            )
            assert keyed.status_code == 503 and "retry-after" in keyed.headers, keyed.text

            source = client.post("/api/v1/sources", json={"kind": "tracking", "name": "app"})
            auth = base64.b64encode(f"{source.json()['write_key']}:".encode()).decode()
            tracked = httpx.post(
                f"{base_url}/v1/track",
                json={"event": "Order Completed", "userId": "u1"},
                headers={"Authorization": f"Basic {auth}"},
            )
            assert tracked.status_code == 503 and "retry-after" in tracked.headers, tracked.text

            stored = {row[0] for row in query(database_url, "SELECT id FROM events")}
            assert set(acked) <= stored
            due = query(
                database_url,
                "SELECT count(*) FROM jobs WHERE queue = 'deliveries' AND status = 'scheduled'",
            )[0][0]
            assert due <= BOUND
        finally:
            gate.set()

        # Drained: accepted again, and every acked event arrived.
        def accepted() -> bool:
            again = client.post("/api/v1/events", json={"type": "order.paid", "data": {}})
            if again.status_code == 201:
                acked.append(again.json()["id"])
                return True
            assert again.status_code == 503, again.text
            return False

        wait_until(accepted, interval=0.2)
        wait_until(lambda: set(acked) <= {r.webhook_id for r in receiver.requests})


def test_another_process_sees_the_backlog_through_the_database(database_url: str) -> None:
    """The bound holds across processes: a hub that enqueued nothing itself refuses too."""
    settings: dict[str, Any] = {"delivery_max_backlog": BOUND}
    with (
        running_hub(database_url, with_worker=False, **settings) as (first_url, _),
        admin_client(first_url) as first,
    ):
        make_endpoint(first, "http://127.0.0.1:9/hook")
        statuses = [
            first.post("/api/v1/events", json={"type": "order.paid", "data": {}}).status_code
            for _ in range(BOUND + 1)
        ]
        # A count read while a publish commits may see its job twice: refused one early.
        assert statuses[-1] == 503 and statuses.count(201) in (BOUND - 1, BOUND), statuses
        assert statuses[: statuses.count(201)] == [201] * statuses.count(201)
        with (
            running_hub(database_url, with_worker=False, **settings) as (second_url, _),
            admin_client(second_url) as second,
        ):
            answers: list[int] = []

            def refused() -> bool:
                answer = second.post("/api/v1/events", json={"type": "order.paid", "data": {}})
                answers.append(answer.status_code)
                return answer.status_code == 503

            wait_until(refused, interval=0.05)
            # At most what it accepted before its first read of the jobs table finished.
            assert answers.count(201) <= 1
