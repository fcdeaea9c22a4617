"""The whole loop of issue 17: see a failure, fix it, run it again. A flow whose HTTP step
hits a receiver answering 500 fails run after run; each ``flow.run.failed`` reaches the
subscribed endpoint signed (Standard Webhooks), one alert opens and notifies once. The
receiver is fixed, a bulk rerun makes every failed run succeed, and once quiet the alert
resolves and notifies once. ManualClock, real HTTP on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.flows.service import create_flow, list_runs
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.usecases import LOCAL, alerts, operations, webhooks
from tests.flows.conftest import START
from tests.flows.receivers import Receiver, assert_signed, receiver
from tests.support.server import test_settings as settings_for

pytestmark = pytest.mark.timeout(120)

SECRET = "whsec_" + base64.b64encode(b"the-whole-loop-signing-secret").decode()
QUIET = 600.0
# Under RENKEI_ALERT_FAILURE_MIN_COUNT (5): from five failed runs in the window on, the
# flow's failure rate opens a second alert of its own kind (flow_failure_rate).
RUNS = 3


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def target() -> Iterator[Receiver]:
    with receiver() as state:
        state.answer("/orders", (500, {"error": "down"}))
        yield state


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    settings = settings_for(
        database_url, retry_schedule="10,60", retry_jitter=0, alert_quiet_seconds=QUIET
    )
    hub = Hub(settings, clock=ManualClock(START))
    yield hub
    await hub.stop()


async def _run(hub: Hub) -> None:
    """Run what is due, the periodic ``alerts.evaluate`` included (as a worker's scheduler
    would enqueue it)."""
    await hub.queue.ensure_schedules(hub.registry.periodics)
    await hub.queue.run_due_schedules()
    worker = hub.new_worker()
    while await worker.run_burst():
        pass


def _delivered(hooks: Receiver, event_type: str) -> list[dict[str, Any]]:
    """The data of every ``event_type`` webhook the endpoint got, each signature checked."""
    requests = hooks.to("/ops")
    for request in requests:
        assert_signed(SECRET, request)
    bodies = [request.json() for request in requests]
    return [body["data"] for body in bodies if body["type"] == event_type]


async def _statuses(hub: Hub, flow_id: str) -> dict[str, str]:
    async with hub.database.read() as connection:
        return {run["id"]: run["status"] for run in await list_runs(connection, flow_id, limit=100)}


async def test_fail_alert_fix_rerun_resolve(hub: Hub, hooks: Receiver, target: Receiver) -> None:
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    fields = {
        "name": "on-call",
        "url": hooks.url + "/ops",
        "event_types": ["flow.run.failed", "alert.opened", "alert.resolved"],
    }
    await webhooks.create_endpoint(hub, LOCAL, fields, secret=SECRET)
    async with hub.database.transaction() as tx:
        flow = await create_flow(
            hub,
            tx,
            {
                "name": "orders",
                "trigger": {"event_types": ["track"], "names": ["Order"]},
                "steps": [{"id": "send", "action": {"url": target.url + "/orders"}}],
            },
        )
    for number in range(RUNS):
        now = clock.now()
        event = Event(new_id("evt"), "track", "Order", {"n": number}, now, now, "src_test")
        async with hub.database.transaction() as tx:
            await record_events(hub, tx, [event])
    for _ in range(4):  # 10 s then 60 s between attempts: three attempts, then failed
        await _run(hub)
        clock.advance(seconds=61)

    runs = await _statuses(hub, flow.id)
    assert list(runs.values()) == ["failed"] * RUNS
    failures = _delivered(hooks, "flow.run.failed")
    assert sorted(failure["run_id"] for failure in failures) == sorted(runs)
    assert all(failure["reason"] == "send: the target answered HTTP 500" for failure in failures)
    [alert] = await alerts.list_alerts(hub, LOCAL)  # one alert, however many runs failed
    assert (alert.kind, alert.subject_id, alert.count) == ("flow_run_failed", flow.id, RUNS)
    assert [opened["alert_id"] for opened in _delivered(hooks, "alert.opened")] == [alert.id]

    # The receiver is fixed; every failed run runs again, from the start, and succeeds.
    target.answer("/orders", (200, {"ok": True}))
    operation, created = await operations.rerun_flow_runs(
        hub, LOCAL, flow_id=flow.id, status=["failed"]
    )
    assert created
    for _ in range(3):
        await _run(hub)
        clock.advance(seconds=1)
    assert await _statuses(hub, flow.id) == dict.fromkeys(runs, "succeeded")
    done = await operations.get_operation(hub, LOCAL, operation.id)
    assert (done.status, done.total, done.done, done.failed) == ("done", RUNS, RUNS, 0)
    assert len(target.to("/orders")) == RUNS * 3 + RUNS

    # Quiet: the evaluator resolves the alert, and alert.resolved is delivered once.
    clock.advance(seconds=QUIET + 1)
    for _ in range(3):
        await _run(hub)
        clock.advance(seconds=61)
    assert (await alerts.get_alert(hub, LOCAL, alert.id)).status == "resolved"
    assert [data["alert_id"] for data in _delivered(hooks, "alert.resolved")] == [alert.id]
    assert len(_delivered(hooks, "alert.opened")) == 1
    assert len(_delivered(hooks, "flow.run.failed")) == RUNS
    assert [found.id for found in await alerts.list_alerts(hub, LOCAL)] == [alert.id]
