"""Reruns of flow runs (one, and many by a filter) and dead queue jobs, through the API over
real HTTP on loopback; the flow's requests are verified with ``standardwebhooks``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from standardwebhooks import Webhook

from renkei.hub import Hub
from renkei.queue import JobContext
from tests.delivery.webhook_receiver import wait_until
from tests.flows.receivers import Received, receiver
from tests.operations.test_replay import FAST, finished
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as make_settings


def _flow(url: str) -> dict[str, Any]:
    return {
        "name": "to-partner",
        "trigger": {"event_types": ["order.paid"]},
        "steps": [{"id": "send", "action": {"url": url, "body": {"order": "{{ event.data.id }}"}}}],
    }


def runs(admin: httpx.Client, flow_id: str) -> list[dict[str, Any]]:
    answer = admin.get(f"/api/v1/flows/{flow_id}/runs")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


def verified(secret: str, request: Received) -> Any:
    """Verified as a receiver would (the hub's clock is the wall clock here)."""
    return Webhook(secret).verify(request.body, request.headers)


def test_failed_runs_rerun_once_the_receiver_is_fixed(database_url: str) -> None:
    with receiver() as target, running_hub(database_url, **FAST) as (base_url, _):
        target.answer("/orders", (500, {"error": "down"}))
        target.answer("/fixed", (200, {"ok": True}))
        admin = admin_client(base_url)
        flow = admin.post("/api/v1/flows", json=_flow(target.url + "/orders")).json()
        secret = admin.get(f"/api/v1/flows/{flow['id']}/secret").json()["secret"]
        for n in range(3):
            admin.post("/api/v1/events", json={"type": "order.paid", "data": {"id": f"o{n}"}})
        wait_until(
            lambda: [r["status"] for r in runs(admin, flow["id"])] == ["failed"] * 3, timeout=20
        )

        # One run, on the flow's current version (which sends where it works).
        changed = admin.patch(
            f"/api/v1/flows/{flow['id']}", json={"steps": _flow(target.url + "/fixed")["steps"]}
        )
        assert changed.status_code == 200, changed.text
        # The worker starts the three runs concurrently: the oldest run is any of the orders.
        first = runs(admin, flow["id"])[-1]
        first_order = admin.get(f"/api/v1/events/{first['event_id']}").json()["data"]["id"]
        rerun = admin.post(
            f"/api/v1/flows/{flow['id']}/runs/{first['id']}/rerun", json={"version": "current"}
        )
        assert rerun.status_code == 202, rerun.text
        assert rerun.json()["version"] == 2
        wait_until(lambda: runs(admin, flow["id"])[-1]["status"] == "succeeded", timeout=20)
        assert verified(secret, target.to("/fixed")[0]) == {"order": first_order}
        again = admin.post(f"/api/v1/flows/{flow['id']}/runs/{first['id']}/rerun")
        assert again.status_code == 409, again.text

        # The rest, by a filter, on the version they ran, once the receiver is fixed.
        target.answer("/orders", (200, {"ok": True}))
        started = admin.post("/api/v1/flow-runs/rerun", json={"flow_id": flow["id"]})
        assert started.status_code == 202, started.text
        progress = finished(admin, started.json())
        assert (progress["total"], progress["done"], progress["skipped"]) == (2, 2, 0)
        wait_until(
            lambda: [r["status"] for r in runs(admin, flow["id"])] == ["succeeded"] * 3,
            timeout=20,
        )
        orders = [r for r in target.to("/orders") if r.headers.get("webhook-id")]
        rest = {"o0", "o1", "o2"} - {first_order}
        assert {verified(secret, r)["order"] for r in orders[-2:]} == rest
        assert {r["version"] for r in runs(admin, flow["id"])[:2]} == {1}
        # Every run succeeded: the same rerun again finds nothing to do.
        assert (
            finished(
                admin, admin.post("/api/v1/flow-runs/rerun", json={"flow_id": flow["id"]}).json()
            )["total"]
            == 0
        )


def test_dead_jobs_are_listed_and_retried(database_url: str) -> None:
    hub = Hub(make_settings(database_url, **FAST))
    calls: list[int] = []

    async def breaks(ctx: JobContext) -> None:
        calls.append(ctx.job.attempts)
        raise RuntimeError("the vendor said no")

    hub.registry.task("tests.breaks", queue="tests")(breaks)

    async def enqueue() -> None:
        other = Hub(make_settings(database_url, **FAST))
        other.registry.task("tests.breaks", queue="tests")(breaks)
        async with other.database.transaction() as tx:
            await other.queue.enqueue(tx, "tests.breaks", {"n": 1})
        await other.database.dispose()

    def dead_ones() -> list[dict[str, Any]]:
        answer = admin.get("/api/v1/jobs", params={"state": "dead"})
        assert answer.status_code == 200, answer.text
        return [job for job in answer.json()["data"] if job["task"] == "tests.breaks"]

    with running_hub(database_url, hub=hub) as (base_url, _):
        admin = admin_client(base_url)
        asyncio.run(enqueue())
        asyncio.run(enqueue())
        wait_until(lambda: len(dead_ones()) == 2, timeout=20)
        [job, _] = dead_ones()
        assert job["attempts"] == job["max_attempts"] == 2 and job["state"] == "dead"
        assert "the vendor said no" in job["error"] and job["died_at"] and job["queue"] == "tests"
        page = admin.get("/api/v1/jobs", params={"state": "dead", "limit": 1}).json()
        assert len(page["data"]) == 1 and page["next_cursor"]
        following = admin.get(
            "/api/v1/jobs", params={"state": "dead", "limit": 1, "cursor": page["next_cursor"]}
        ).json()
        assert following["data"][0]["id"] != page["data"][0]["id"]

        before = len(calls)
        assert admin.post(f"/api/v1/jobs/{job['id']}/retry").status_code == 204
        wait_until(lambda: len(calls) == before + 2 and len(dead_ones()) == 2, timeout=20)
        assert admin.post("/api/v1/jobs/999999999/retry").status_code == 404
        assert admin.get("/api/v1/jobs", params={"state": "alive"}).status_code == 422
        assert admin.get("/api/v1/jobs", params={"state": "dead", "cursor": "x"}).status_code == 400
        audit = admin.get("/api/v1/audit").json()["data"]
        assert any(entry["action"] == "job.retried" for entry in audit)


def test_reruns_refuse_what_they_cannot_do(database_url: str) -> None:
    with running_hub(database_url, with_worker=False) as (base_url, _):
        admin = admin_client(base_url)
        assert admin.post("/api/v1/flows/flow_x/runs/run_x/rerun").status_code == 404
        unknown_flow = admin.post("/api/v1/flow-runs/rerun", json={"flow_id": "nope"})
        assert unknown_flow.status_code == 404
        backwards = admin.post(
            "/api/v1/flow-runs/rerun",
            json={"since": "2026-02-01", "until": "2026-01-01"},
        )
        assert backwards.status_code == 422
        succeeded = admin.post("/api/v1/flow-runs/rerun", json={"status": ["succeeded"]})
        assert succeeded.status_code == 422
        bad_version = admin.post("/api/v1/flow-runs/rerun", json={"version": "latest"})
        assert bad_version.status_code == 422
        assert admin.post("/api/v1/syncs/nope/runs/run_x/rerun").status_code == 404
        bad_date = admin.post("/api/v1/deliveries/resend", json={"since": "not a date"})
        assert bad_date.status_code == 422
