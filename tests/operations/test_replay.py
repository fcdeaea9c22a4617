"""Replay (issue 17, item 4) and resend by a filter, over real HTTP on loopback: receivers
verify every request with ``standardwebhooks``."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.hub import Hub
from renkei.operations import runner as runner_module
from renkei.store import migrate
from renkei.store.tables.webhooks import deliveries
from renkei.usecases import LOCAL
from renkei.usecases.operations import replay_to_endpoint
from renkei.usecases.webhooks import endpoints
from tests.delivery.test_delivery_e2e import make_endpoint
from tests.delivery.test_delivery_order_rate import busiest_second, send_starts
from tests.delivery.webhook_receiver import Receiver, verify, wait_until
from tests.flows.receivers import receiver
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as make_settings

FAST = {"retry_schedule": (0.1,), "retry_jitter": 0.0, "worker_poll_interval": 0.05}
SINCE = "2000-01-01T00:00:00Z"


def store_events(base_url: str, admin: httpx.Client, count: int) -> list[str]:
    source = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"})
    assert source.status_code == 201, source.text
    auth = httpx.BasicAuth(source.json()["write_key"], "")
    ids = [f"m{n:04d}" for n in range(count)]
    for start in range(0, count, 500):
        batch = [
            {"type": "track", "userId": f"u{n}", "event": "Bought", "messageId": message_id}
            for n, message_id in enumerate(ids[start : start + 500], start)
        ]
        answer = httpx.post(f"{base_url}/v1/batch", json={"batch": batch}, auth=auth)
        assert answer.status_code == 200, answer.text
    return ids


def finished(admin: httpx.Client, operation: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    def done() -> bool:
        return admin.get(f"/api/v1/operations/{operation['id']}").json()["status"] == "done"

    wait_until(done, timeout=timeout)
    found: dict[str, Any] = admin.get(f"/api/v1/operations/{operation['id']}").json()
    return found


def test_a_new_endpoint_gets_past_events_once_however_often_replayed(database_url: str) -> None:
    with Receiver() as receiver, running_hub(database_url, **FAST) as (base_url, _):
        admin = admin_client(base_url)
        ids = store_events(base_url, admin, 1000)
        endpoint = make_endpoint(admin, receiver.url)  # created after the events

        started = admin.post(f"/api/v1/endpoints/{endpoint['id']}/replay", json={"since": SINCE})
        assert started.status_code == 202, started.text
        operation = started.json()
        assert operation["kind"] == "endpoint.replay" and operation["total"] == 1000
        progress = finished(admin, operation)
        assert (progress["done"], progress["skipped"], progress["failed"]) == (1000, 0, 0)
        assert progress["finished_at"] is not None
        wait_until(lambda: len(receiver.requests) >= 1000, timeout=30)
        received = receiver.snapshot()
        assert sorted(r.webhook_id for r in received) == ids  # each exactly once
        for request in received[:50]:
            assert verify(endpoint["secret"], request)["type"] == "track"

        again = admin.post(f"/api/v1/endpoints/{endpoint['id']}/replay", json={"since": SINCE})
        assert again.status_code == 202, again.text
        second = finished(admin, again.json())
        assert (second["done"], second["skipped"]) == (1000, 1000)
        time.sleep(0.5)
        assert len(receiver.snapshot()) == 1000


def test_a_replay_keeps_the_endpoint_s_rate_limit_and_fifo_order(database_url: str) -> None:
    """A replay's deliveries are made like live ones: a FIFO endpoint limited to 20 sends a
    second gets past events in their order, never more than 21 starts in a second."""
    with Receiver() as receiver, running_hub(database_url, **FAST) as (base_url, _):
        admin = admin_client(base_url)
        for n in range(40):
            sent = admin.post("/api/v1/events", json={"type": "order.paid", "data": {"n": n}})
            assert sent.status_code == 201, sent.text
        endpoint = make_endpoint(admin, receiver.url, ordered=True, rate_limit_per_second=20)

        started = admin.post(f"/api/v1/endpoints/{endpoint['id']}/replay", json={"since": SINCE})
        assert started.status_code == 202, started.text
        assert finished(admin, started.json())["done"] == 40
        wait_until(lambda: len(receiver.requests) >= 40, timeout=30)
        received = [verify(endpoint["secret"], r)["data"]["n"] for r in receiver.snapshot()]
        assert received == list(range(40))
        starts = asyncio.run(send_starts(database_url, endpoint["id"]))
        assert len(starts) == 40 and busiest_second(starts) <= 21


def test_replay_refuses_what_it_cannot_do(database_url: str) -> None:
    with running_hub(database_url, with_worker=False) as (base_url, _):
        admin = admin_client(base_url)
        unknown = admin.post("/api/v1/endpoints/ep_nope/replay", json={"since": SINCE})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
        endpoint = make_endpoint(admin, "http://127.0.0.1:9/hook")
        backwards = admin.post(
            f"/api/v1/endpoints/{endpoint['id']}/replay",
            json={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        )
        assert backwards.status_code == 422, backwards.text
        assert backwards.json()["error"]["details"][0]["path"] == "until"
        bad_date = admin.post(
            f"/api/v1/endpoints/{endpoint['id']}/replay", json={"since": "yesterday-ish"}
        )
        assert bad_date.status_code == 422
        assert admin.get("/api/v1/operations/op_nope").status_code == 404
        # No worker here: the first replay is still pending, so the same one is answered.
        first = admin.post(f"/api/v1/endpoints/{endpoint['id']}/replay", json={"since": SINCE})
        same = admin.post(f"/api/v1/endpoints/{endpoint['id']}/replay", json={"since": SINCE})
        assert (first.status_code, same.status_code) == (202, 200)
        assert same.json()["id"] == first.json()["id"] and same.json()["status"] == "pending"
        other = admin.post(
            f"/api/v1/endpoints/{endpoint['id']}/replay", json={"since": "2001-01-01T00:00:00Z"}
        )
        assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
        flow = admin.post("/api/v1/flows/flow_nope/replay", json={"since": SINCE})
        assert flow.status_code == 404


def test_resend_by_filter_across_two_endpoints(database_url: str) -> None:
    failing = True

    def answer(_: Any, __: int) -> int:
        return 500 if failing else 200

    with (
        Receiver(answer) as first,
        Receiver(answer) as second,
        running_hub(database_url, **FAST) as (base_url, _),
    ):
        admin = admin_client(base_url)
        types = ["order.paid", "order.refunded"]  # not Renkei's own failure events
        one = make_endpoint(admin, first.url, event_types=types)
        two = make_endpoint(admin, second.url, name="erp", event_types=types)
        for n in range(5):
            admin.post("/api/v1/events", json={"type": "order.paid", "data": {"n": n}})
        admin.post("/api/v1/events", json={"type": "order.refunded", "data": {}})

        def exhausted() -> bool:
            rows = admin.get("/api/v1/deliveries", params={"status": "exhausted"}).json()
            return len(rows["data"]) == 12

        wait_until(exhausted, timeout=20)
        failing = False
        before = {r.webhook_id for r in first.snapshot()} | {
            r.webhook_id for r in second.snapshot()
        }
        started = admin.post("/api/v1/deliveries/resend", json={"event_type": "order.paid"})
        assert started.status_code == 202, started.text
        progress = finished(admin, started.json())
        assert (progress["total"], progress["done"], progress["failed"]) == (10, 10, 0)

        def resent() -> bool:
            rows = admin.get("/api/v1/deliveries", params={"status": "succeeded"}).json()
            return len(rows["data"]) == 10

        wait_until(resent, timeout=20)
        for receiver, endpoint in ((first, one), (second, two)):
            ok = [r for r in receiver.snapshot() if r.headers.get("webhook-id") in before]
            assert verify(endpoint["secret"], ok[-1])["type"] == "order.paid"
        # Nothing failed is left of that type: the same resend again sends nothing.
        again = finished(
            admin, admin.post("/api/v1/deliveries/resend", json={"event_type": "order.paid"}).json()
        )
        assert again["total"] == 0
        refunded = admin.get("/api/v1/deliveries", params={"status": "exhausted"}).json()["data"]
        assert len(refunded) == 2


def test_a_new_flow_runs_on_past_events_once(database_url: str) -> None:
    with receiver() as target, running_hub(database_url, **FAST) as (base_url, _):
        admin = admin_client(base_url)
        for n in range(20):
            kind = "order.paid" if n % 2 == 0 else "order.refunded"
            admin.post("/api/v1/events", json={"type": kind, "data": {"id": f"o{n}"}})
        flow = admin.post(
            "/api/v1/flows",
            json={
                "name": "to-partner",
                "trigger": {"event_types": ["order.paid"]},
                "steps": [{"id": "send", "action": {"url": target.url + "/orders"}}],
            },
        ).json()
        secret = admin.get(f"/api/v1/flows/{flow['id']}/secret").json()["secret"]

        started = admin.post(f"/api/v1/flows/{flow['id']}/replay", json={"since": SINCE})
        assert started.status_code == 202, started.text
        progress = finished(admin, started.json())
        assert (progress["total"], progress["done"], progress["skipped"]) == (20, 20, 10)
        wait_until(lambda: len(target.to("/orders")) >= 10, timeout=20)
        requests = target.to("/orders")
        assert {Webhook(secret).verify(r.body, r.headers)["id"] for r in requests} == {
            f"o{n}" for n in range(0, 20, 2)
        }
        assert len({r.headers["webhook-id"] for r in requests}) == 10

        again = finished(
            admin, admin.post(f"/api/v1/flows/{flow['id']}/replay", json={"since": SINCE}).json()
        )
        assert (again["done"], again["skipped"]) == (20, 20)
        time.sleep(0.5)
        assert len(target.to("/orders")) == 10


async def test_an_operation_resumes_after_a_crash_where_it_stopped(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker dies after the first batch: the next one carries on from the stored cursor
    and the endpoint gets every event once."""
    monkeypatch.setattr(runner_module, "BATCH_SIZE", 40)
    hub = Hub(make_settings(database_url))
    await migrate(hub.database)
    try:
        async with hub.database.transaction() as tx:
            await record_events(hub, tx, [_event(n) for n in range(100)])
        endpoint = await endpoints.create_endpoint(
            hub, LOCAL, {"name": "crm", "url": "https://crm.example.com/h"}
        )
        operation, created = await replay_to_endpoint(
            hub, LOCAL, endpoint.id, since=datetime(2000, 1, 1, tzinfo=UTC)
        )
        assert created and operation.total == 100
        count, work = hub.operations.kinds["endpoint.replay"]
        batches = 0

        async def dies_after_one(*args: Any) -> Any:
            nonlocal batches
            batches += 1
            if batches == 2:
                raise RuntimeError("the worker died")
            return await work(*args)

        hub.operations.kinds["endpoint.replay"] = (count, dies_after_one)
        with pytest.raises(RuntimeError):
            await hub.operations.run(operation.id)
        halfway = await hub.operations.get(operation.id)
        assert (halfway.status, halfway.done) == ("running", 40)

        hub.operations.kinds["endpoint.replay"] = (count, work)
        done = await hub.operations.run(operation.id)
        assert (done.status, done.done, done.skipped) == ("done", 100, 0)
        async with hub.database.read() as connection:
            rows = (
                await connection.execute(
                    select(deliveries.c.event_id).where(deliveries.c.endpoint_id == endpoint.id)
                )
            ).scalars()
            assert sorted(rows) == sorted(f"evt_{n:03d}" for n in range(100))
    finally:
        await hub.database.dispose()


def _event(n: int) -> Event:
    now = datetime.now(UTC)
    return Event(f"evt_{n:03d}", "order.paid", None, {"n": n}, now, now, "test")
