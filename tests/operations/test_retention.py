"""Retention (issue 20, item 1) over real HTTP on loopback, ManualClock, SQLite and
PostgreSQL: the ``retention.expire`` periodic, ticked by the worker's own scheduler once the
clock has moved, deletes what is past its retention in small batches while events keep
coming in and being delivered; what referred to an expired event says so."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from renkei.clock import ManualClock
from renkei.hub import Hub
from tests.delivery.test_delivery_e2e import make_endpoint
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as make_settings

pytestmark = pytest.mark.timeout(180)

START = datetime(2026, 3, 1, tzinfo=UTC)
TYPES = ["order.paid", "order.kept", "order.brief"]
RETENTION = {
    "retention_events_days": 30,
    "retention_deliveries_days": 60,
    # Longer than the default for one type, shorter for another.
    "retention_event_types": {"order.kept": 365, "order.brief": 3},
    # Small batches: the job takes many turns at the database while ingest goes on.
    "retention_batch_size": 7,
    "retry_schedule": (0.1,),
    "retry_jitter": 0.0,
    "worker_poll_interval": 0.05,
}


def publish(admin: httpx.Client, event_type: str, n: int) -> str:
    answer = admin.post("/api/v1/events", json={"type": event_type, "data": {"n": n}})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def stored(admin: httpx.Client, event_id: str) -> bool:
    status = admin.get(f"/api/v1/events/{event_id}").status_code
    assert status in (200, 404)
    return status == 200


def deliveries(admin: httpx.Client, event_id: str) -> list[dict[str, Any]]:
    answer = admin.get("/api/v1/deliveries", params={"event_id": event_id})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


def test_expiry_while_ingest_and_delivery_go_on(database_url: str) -> None:
    clock = ManualClock(START)
    hub = Hub(make_settings(database_url, **RETENTION), clock=clock)
    with Receiver() as receiver, running_hub(database_url, hub=hub) as (base_url, _):
        admin = admin_client(base_url)
        make_endpoint(admin, receiver.url, event_types=TYPES)
        held = make_endpoint(admin, receiver.url, name="paused", event_types=["order.paid"])
        assert admin.post(f"/api/v1/endpoints/{held['id']}/pause").status_code == 200

        old = [publish(admin, "order.paid", n) for n in range(20)]
        kept = [publish(admin, "order.kept", n) for n in range(3)]
        wait_until(lambda: len(receiver.snapshot()) >= 23)
        clock.advance(days=25)
        brief = [publish(admin, "order.brief", n) for n in range(2)]
        young = publish(admin, "order.paid", 100)
        wait_until(lambda: len(receiver.snapshot()) >= 26)
        assert deliveries(admin, old[0])[0]["expired"] is False

        # Ingest runs on while the clock moves past the retention and the job runs.
        fresh: list[str] = []
        errors: list[BaseException] = []

        def ingest() -> None:
            try:
                with admin_client(base_url) as client:
                    for n in range(40):
                        fresh.append(publish(client, "order.paid", 1000 + n))
            except BaseException as error:  # reported by the test thread
                errors.append(error)

        feeder = threading.Thread(target=ingest)
        feeder.start()
        wait_until(lambda: len(fresh) >= 5)
        clock.advance(days=6)  # old: 31 days; brief: 6 days (3 allowed); young: 6 days
        wait_until(lambda: not stored(admin, old[-1]) and not stored(admin, brief[-1]), 60)
        feeder.join(timeout=60)
        assert not errors and len(fresh) == 40

        assert not any(stored(admin, event_id) for event_id in old + brief)
        assert all(stored(admin, event_id) for event_id in [*kept, young, *fresh])
        # Delivery went on: every event ingested during expiry reached the receiver.
        wait_until(lambda: set(fresh) <= {r.webhook_id for r in receiver.snapshot()})

        # A delivery outlives its event (60 days against 30): it says the event expired.
        sent, parked = sorted(
            deliveries(admin, old[0]), key=lambda d: d["endpoint_id"] == held["id"]
        )
        assert (sent["status"], sent["expired"]) == ("succeeded", True)
        detail = admin.get(f"/api/v1/deliveries/{sent['id']}").json()
        assert detail["expired"] is True and len(detail["attempt_history"]) == 1
        # One still waiting (its endpoint paused) can never be sent: cancelled, with why.
        assert (parked["status"], parked["expired"]) == ("cancelled", True)
        assert "expired" in parked["last_error"]
        assert deliveries(admin, kept[0])[0]["expired"] is False

        resend = admin.post(f"/api/v1/deliveries/{sent['id']}/resend")
        assert resend.status_code == 410, resend.text
        assert resend.json()["error"]["code"] == "expired"
        assert old[0] in resend.json()["error"]["message"]
        endpoint_id = sent["endpoint_id"]
        window = {"since": "2026-01-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"}
        replay = f"/api/v1/endpoints/{endpoint_id}/replay"
        gone = admin.post(replay, json={**window, "event_types": ["order.paid"]})
        assert gone.status_code == 410, gone.text
        assert gone.json()["error"]["code"] == "expired"
        # order.kept is kept a year: a window of any type still holds those.
        still = admin.post(replay, json=window)
        assert still.status_code == 202 and still.json()["total"] == 3, still.text
        bulk = admin.post(
            "/api/v1/deliveries/resend",
            json={
                "endpoint_id": endpoint_id,
                "status": ["succeeded"],
                "until": "2026-03-02T00:00:00Z",
            },
        )
        assert bulk.status_code == 202, bulk.text
        before = len(receiver.snapshot())

        def bulk_done() -> bool:
            found = admin.get(f"/api/v1/operations/{bulk.json()['id']}").json()
            return bool(found["status"] == "done")

        wait_until(bulk_done)
        progress = admin.get(f"/api/v1/operations/{bulk.json()['id']}").json()
        # The kept events are sent again; the expired ones cannot be, and say so.
        assert (progress["done"], progress["failed"]) == (23, 20), progress
        wait_until(lambda: len(receiver.snapshot()) >= before + 3)

        # Past the deliveries' own retention they go too, with their attempts.
        clock.advance(days=30)  # old deliveries: 61 days

        def aged_out() -> bool:
            ids = [sent["id"], parked["id"], *(d["id"] for d in deliveries(admin, kept[0]))]
            return all(admin.get(f"/api/v1/deliveries/{i}").status_code == 404 for i in ids)

        wait_until(aged_out, 60)
        # young's event (36 days) expired meanwhile; its delivery (60 days) stays.
        assert not stored(admin, young)
        of_young = {d["endpoint_id"]: d for d in deliveries(admin, young)}
        assert (of_young[endpoint_id]["status"], of_young[endpoint_id]["expired"]) == (
            "succeeded",
            True,
        )
        # A type's own retention is its events'; its deliveries age like any other.
        assert stored(admin, kept[0]) and deliveries(admin, kept[0]) == []


def test_flow_runs_sync_runs_and_tracked_events_expire_by_their_rules(database_url: str) -> None:
    import asyncio

    from sqlalchemy import insert, select

    from renkei.operations.retention import expire
    from renkei.store.tables.core import events
    from renkei.store.tables.flows import flow_run_steps, flow_runs
    from renkei.store.tables.syncs import sync_runs

    clock = ManualClock(START)
    hub = Hub(
        make_settings(
            database_url,
            flow_run_retention_days=10,
            retention_sync_runs_days=20,
            retention_events_days=30,
            # A message type, and a track event's name (as the tracking plan names them).
            retention_event_types={"page": 1, "Order Completed": 365},
            retention_batch_size=2,
        ),
        clock=clock,
    )

    def flow_run(run_id: str, finished: datetime | None) -> dict[str, Any]:
        return {
            "id": run_id,
            "flow_id": "flow_x",
            "version": 1,
            "event_id": f"evt_{run_id}",
            "status": "succeeded" if finished else "waiting",
            "context": {},
            "started_at": START - timedelta(days=40),
            "updated_at": START,
            "finished_at": finished,
        }

    def sync_run(run_id: str, finished: datetime | None) -> dict[str, Any]:
        counts = dict.fromkeys(("read", "created", "updated", "skipped", "failed", "calls"), 0)
        return {
            "id": run_id,
            "sync_id": "sync_x",
            "trigger": "schedule",
            "status": "succeeded" if finished else "running",
            "errors": [],
            "started_at": START - timedelta(days=40),
            "finished_at": finished,
            **counts,
        }

    def tracked(event_id: str, kind: str, name: str | None, days_ago: float) -> dict[str, Any]:
        at = START - timedelta(days=days_ago)
        return {
            "id": event_id,
            "type": kind,
            "name": name,
            "data": {},
            "occurred_at": at,
            "received_at": at,
        }

    async def scenario() -> tuple[set[str], set[str], set[str], dict[str, int]]:
        long_ago, lately = START - timedelta(days=15), START - timedelta(days=5)
        async with hub.database.transaction() as tx:
            await tx.execute(
                insert(flow_runs),
                [flow_run(f"run_old{n}", long_ago) for n in range(5)]
                + [flow_run("run_recent", lately), flow_run("run_waiting", None)],
            )
            await tx.execute(
                insert(flow_run_steps),
                [
                    {
                        "run_id": f"run_old{n}",
                        "node": 0,
                        "step_id": "s",
                        "kind": "filter",
                        "status": "succeeded",
                        "started_at": long_ago,
                    }
                    for n in range(5)
                ],
            )
            await tx.execute(
                insert(sync_runs),
                [
                    sync_run("sr_old", START - timedelta(days=25)),
                    sync_run("sr_mid", long_ago),
                    sync_run("sr_running", None),
                ],
            )
        async with hub.database.transaction() as tx:
            await tx.execute(
                insert(events),
                [
                    tracked("e_page", "page", None, 2),
                    tracked("e_completed", "track", "Order Completed", 200),
                    tracked("e_signed_up", "track", "Signed Up", 40),
                    tracked("e_identify", "identify", None, 40),
                    tracked("e_page_today", "page", None, 0.5),
                    tracked("e_signed_up_lately", "track", "Signed Up", 20),
                ],
            )
        counts = await expire(hub)
        async with hub.database.read() as connection:
            runs = set((await connection.execute(select(flow_runs.c.id))).scalars())
            steps = set((await connection.execute(select(flow_run_steps.c.run_id))).scalars())
            syncs = set((await connection.execute(select(sync_runs.c.id))).scalars())
            left = set((await connection.execute(select(events.c.id))).scalars())
        await hub.stop()
        return runs, steps, syncs | left, counts

    runs, steps, kept, counts = asyncio.run(scenario())
    syncs = {name for name in kept if name.startswith("sr_")}
    assert kept - syncs == {"e_completed", "e_page_today", "e_signed_up_lately"}
    assert counts["events"] == 3
    assert runs == {"run_recent", "run_waiting"} and steps == set()
    assert syncs == {"sr_mid", "sr_running"}
    assert (counts["flow_runs"], counts["sync_runs"]) == (5, 1)


def test_a_run_stops_at_its_time_budget_and_the_next_carries_on(database_url: str) -> None:
    """A backlog is worked off tick after tick: a run stops after most of the interval
    (here a fraction of a millisecond: one batch), the next run goes on from there."""
    import asyncio

    from sqlalchemy import func, insert, select

    from renkei.operations.retention import expire
    from renkei.store.tables.core import events

    old = START - timedelta(days=100)
    rows = [
        {"id": f"e{n}", "type": "order.paid", "data": {}, "occurred_at": old, "received_at": old}
        for n in range(5)
    ]

    async def scenario() -> list[dict[str, int]]:
        results = []
        for interval in (0.0001, 3600.0):
            settings = make_settings(
                database_url, retention_batch_size=1, retention_interval_seconds=interval
            )
            hub = Hub(settings, clock=ManualClock(START))
            try:
                if interval < 1:
                    async with hub.database.transaction() as tx:
                        await tx.execute(insert(events), rows)
                results.append(await expire(hub))
                async with hub.database.read() as connection:
                    left = await connection.execute(select(func.count()).select_from(events))
                    results[-1]["left"] = int(left.scalar_one())
            finally:
                await hub.stop()
        return results

    first, second = asyncio.run(scenario())
    assert (first["events"], first["unfinished"], first["left"]) == (1, 1, 4)
    assert (second["events"], second["unfinished"], second["left"]) == (4, 0, 0)
