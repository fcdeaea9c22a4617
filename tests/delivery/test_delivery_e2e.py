"""Outbound webhooks end to end: real HTTP in, real HTTP out, on SQLite and PostgreSQL.

Every delivered request is verified with the ``standardwebhooks`` package.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.delivery.webhook_receiver import Received, Receiver, verify, wait_until
from tests.support.server import admin_client, running_hub

FAST = {"retry_schedule": (0.2, 0.4, 0.8), "retry_jitter": 0.0, "worker_poll_interval": 0.05}


def make_endpoint(client: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/endpoints", json={"name": "crm", "url": url, **fields})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    endpoint["secret"] = client.get(f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"]
    return endpoint


def deliveries_of(client: httpx.Client, event_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/events/{event_id}/deliveries")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def test_publish_delivers_a_signed_standard_webhook(database_url: str) -> None:
    with Receiver() as receiver, running_hub(database_url, **FAST) as (base_url, _):
        client = admin_client(base_url)
        endpoint = make_endpoint(client, receiver.url, event_types=["receipt.receipt_validated"])
        published = client.post(
            "/api/v1/events",
            json={"type": "receipt.receipt_validated", "data": {"receipt_id": "r1", "amount": 42}},
        )
        assert published.status_code == 201, published.text
        event = published.json()
        assert event["id"].startswith("evt_") and event["deliveries"] == 1

        wait_until(lambda: len(receiver.requests) == 1)
        received: Received = receiver.requests[0]
        payload = verify(endpoint["secret"], received)
        assert payload["type"] == "receipt.receipt_validated"
        assert payload["data"] == {"receipt_id": "r1", "amount": 42}
        assert received.webhook_id == event["id"]
        assert received.headers["content-type"] == "application/json"

        wait_until(lambda: deliveries_of(client, event["id"])[0]["status"] == "succeeded")
        delivery = deliveries_of(client, event["id"])[0]
        assert delivery["endpoint_id"] == endpoint["id"] and delivery["attempts"] == 1


def attempts_of(client: httpx.Client, delivery_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get(f"/api/v1/deliveries/{delivery_id}/attempts").json()[
        "data"
    ]
    return sorted(rows, key=lambda row: row["id"])


def seconds_between(a: str, b: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def test_receiver_down_then_up_gets_everything_on_schedule(database_url: str) -> None:
    receiver = Receiver()
    with running_hub(database_url, **FAST) as (base_url, _):
        client = admin_client(base_url)
        endpoint = make_endpoint(client, receiver.url)
        ids = [
            client.post("/api/v1/events", json={"type": "order.paid", "data": {"n": n}}).json()[
                "id"
            ]
            for n in range(5)
        ]
        # Down: the first attempts are refused; wait until each event has failed twice.
        wait_until(
            lambda: all(deliveries_of(client, i)[0]["attempts"] >= 2 for i in ids), timeout=30
        )
        with receiver:
            wait_until(
                lambda: all(deliveries_of(client, i)[0]["status"] == "succeeded" for i in ids),
                timeout=30,
            )
        assert set(receiver.ids()) == set(ids)
        for request in receiver.requests:
            verify(endpoint["secret"], request)
        delivery = deliveries_of(client, ids[0])[0]
        attempts = attempts_of(client, delivery["id"])
        assert [a["success"] for a in attempts][-1] is True
        assert all(not a["success"] for a in attempts[:-1])
        assert attempts[0]["error"] and attempts[0]["status_code"] is None
        # Attempt n+1 starts no earlier than the schedule's n-th delay (jitter is off).
        for n in range(len(attempts) - 1):
            gap = seconds_between(attempts[n]["started_at"], attempts[n + 1]["started_at"])
            assert gap >= FAST["retry_schedule"][n] - 0.01  # type: ignore[index]


def test_retry_after_is_honoured_and_410_disables(database_url: str) -> None:
    def answer(request: Received, before: int) -> Any:
        kind = request.json["data"]["kind"]
        if kind == "busy":
            return (429, {"Retry-After": "2"}) if before == 0 else 200
        return 410

    with (
        Receiver(answer) as receiver,
        running_hub(database_url, **{**FAST, "overload_penalty_seconds": 60}) as (base_url, _),
    ):
        client = admin_client(base_url)
        busy = make_endpoint(client, receiver.url, event_types=["busy"])
        gone = make_endpoint(client, receiver.url, event_types=["gone"])
        watcher_receiver = Receiver().start()
        try:
            watcher = make_endpoint(client, watcher_receiver.url, event_types=["endpoint.disabled"])
            busy_event = client.post(
                "/api/v1/events", json={"type": "busy", "data": {"kind": "busy"}}
            ).json()
            gone_event = client.post(
                "/api/v1/events", json={"type": "gone", "data": {"kind": "gone"}}
            ).json()
            wait_until(lambda: deliveries_of(client, busy_event["id"])[0]["status"] == "succeeded")
            attempts = attempts_of(client, deliveries_of(client, busy_event["id"])[0]["id"])
            assert [a["status_code"] for a in attempts] == [429, 200]
            assert attempts[0]["response_headers"]["retry-after"] == "2"
            assert seconds_between(attempts[0]["started_at"], attempts[1]["started_at"]) >= 1.99

            wait_until(lambda: client.get(f"/api/v1/endpoints/{gone['id']}").json()["disabled"])
            state = client.get(f"/api/v1/endpoints/{gone['id']}").json()
            assert state["disabled_reason"] == "gone"
            assert deliveries_of(client, gone_event["id"])[0]["status"] == "held"
            # endpoint.disabled is an ordinary event: the watcher endpoint receives it.
            wait_until(lambda: len(watcher_receiver.requests) == 1)
            notice = verify(watcher["secret"], watcher_receiver.requests[0])
            assert notice["type"] == "endpoint.disabled"
            assert (
                notice["data"]["endpoint_id"] == gone["id"] and notice["data"]["reason"] == "gone"
            )
            # While disabled, new events are held, not sent.
            later = client.post(
                "/api/v1/events", json={"type": "gone", "data": {"kind": "gone"}}
            ).json()
            assert deliveries_of(client, later["id"])[0]["status"] == "held"
            assert busy["id"] != gone["id"]
        finally:
            watcher_receiver.stop()
        gone_requests = [r for r in receiver.requests if r.json["data"]["kind"] == "gone"]
        assert len(gone_requests) == 1
