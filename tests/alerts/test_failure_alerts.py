"""Failures are events, and open one alert each: a flow whose HTTP step gets 500s, a sync
whose sandbox fails, a connection failing then recovering. Every event reaches a
subscribed endpoint signed (checked with ``standardwebhooks``); ``alert.opened`` and
``alert.resolved`` are sent once per alert, however many failures. ManualClock, real HTTP
on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.events.system import SYSTEM_EVENT_TYPES
from renkei.flows.service import create_flow
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.usecases import LOCAL, alerts, webhooks
from tests.flows.conftest import START
from tests.flows.receivers import Received, Receiver, assert_signed, receiver
from tests.support.server import test_settings as settings_for
from tests.syncs.harness import START as SYNC_START
from tests.syncs.harness import marketo, sync_rig

pytestmark = pytest.mark.timeout(120)

SECRET = "whsec_" + base64.b64encode(b"alerts-test-signing-secret!").decode()
QUIET = 600.0
WATCHED = [
    "flow.run.failed",
    "sync.run.failed",
    "connection.failing",
    "connection.recovered",
    "alert.opened",
    "alert.resolved",
]


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def failing() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    settings = settings_for(
        database_url, retry_schedule="10,60", retry_jitter=0, alert_quiet_seconds=QUIET
    )
    hub = Hub(settings, clock=ManualClock(START))
    yield hub
    await hub.stop()


async def _subscribe(hub: Hub, url: str) -> None:
    fields = {"name": "ops", "url": url + "/ops", "event_types": WATCHED}
    await webhooks.create_endpoint(hub, LOCAL, fields, secret=SECRET)


def _delivered(hooks: Receiver) -> list[dict[str, Any]]:
    """Every webhook the endpoint got, its signature checked."""
    requests: list[Received] = hooks.to("/ops")
    for request in requests:
        assert_signed(SECRET, request)
    bodies = [request.json() for request in requests]
    for body in bodies:  # each payload is what its type's schema promises
        assert not list(SYSTEM_EVENT_TYPES[body["type"]].validator().iter_errors(body["data"]))
    return bodies


def _of(bodies: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [body["data"] for body in bodies if body["type"] == event_type]


async def _run(hub: Hub) -> None:
    """Run what is due, the periodic ``alerts.evaluate`` included (as a worker's scheduler
    would enqueue it)."""
    await hub.queue.ensure_schedules(hub.registry.periodics)
    await hub.queue.run_due_schedules()
    worker = hub.new_worker()
    while await worker.run_burst():
        pass


async def _order(hub: Hub) -> None:
    now = hub.clock.now()
    event = Event(new_id("evt"), "track", "Order", {"total": 3}, now, now, "src_test")
    async with hub.database.transaction() as tx:
        await record_events(hub, tx, [event])


async def test_failed_flow_runs_open_one_alert_that_resolves_when_quiet(
    hub: Hub, hooks: Receiver, failing: Receiver
) -> None:
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    await _subscribe(hub, hooks.url)
    failing.answer("/orders", (500, {"error": "down"}))
    async with hub.database.transaction() as tx:
        flow = await create_flow(
            hub,
            tx,
            {
                "name": "orders",
                "trigger": {"event_types": ["track"], "names": ["Order"]},
                "steps": [{"id": "send", "action": {"url": failing.url + "/orders"}}],
            },
        )
    for _ in range(3):
        await _order(hub)
    for _ in range(4):  # 10 s then 60 s between attempts: three attempts, then failed
        await _run(hub)
        clock.advance(seconds=61)

    assert len(failing.to("/orders")) == 9
    bodies = _delivered(hooks)
    failures = _of(bodies, "flow.run.failed")
    assert len(failures) == 3
    assert {failure["flow_id"] for failure in failures} == {flow.id}
    assert all(failure["reason"].startswith("send: ") for failure in failures)
    [alert] = await alerts.list_alerts(hub, LOCAL, kind="flow_run_failed")
    assert (alert.status, alert.subject_type, alert.subject_id) == ("open", "flow", flow.id)
    assert alert.count == 3
    [opened] = _of(bodies, "alert.opened")
    assert (opened["alert_id"], opened["kind"]) == (alert.id, "flow_run_failed")
    assert _of(bodies, "alert.resolved") == []

    # The failures stop: after the quiet period the evaluator resolves it, once.
    clock.advance(seconds=QUIET + 1)
    await _run(hub)
    clock.advance(seconds=120)
    await _run(hub)
    resolved = await alerts.get_alert(hub, LOCAL, alert.id)
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    bodies = _delivered(hooks)
    assert [data["alert_id"] for data in _of(bodies, "alert.resolved")] == [alert.id]
    assert len(_of(bodies, "alert.opened")) == 1


async def test_a_flow_reacting_to_failures_that_fails_does_not_feed_itself(
    hub: Hub, failing: Receiver
) -> None:
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    failing.answer("/orders", (500, {}))
    failing.answer("/pager", (500, {}))
    async with hub.database.transaction() as tx:
        for name, trigger, path in (
            ("orders", {"event_types": ["track"], "names": ["Order"]}, "/orders"),
            ("pager", {"event_types": ["flow.run.failed"]}, "/pager"),
        ):
            spec = {"name": name, "trigger": trigger, "steps": [{"id": "send", "action": {}}]}
            spec["steps"][0]["action"] = {"url": failing.url + path}
            await create_flow(hub, tx, spec)
    await _order(hub)
    for _ in range(8):
        await _run(hub)
        clock.advance(seconds=61)
    assert len(failing.to("/pager")) == 3  # one run, its three attempts, and no more


async def test_a_failing_sync_and_its_connection_open_alerts_and_recover(
    database_url: str, hooks: Receiver
) -> None:
    clock = ManualClock(SYNC_START)
    settings = {"alert_quiet_seconds": QUIET, "connection_failing_after_seconds": 8.0}
    with marketo(clock, seed_leads=3) as (sandbox, base):
        async with sync_rig(database_url, clock, **settings) as rig:
            hub = rig.hub
            await _subscribe(hub, hooks.url)
            await rig.connect(base)
            connection_id = await rig.connection_id("marketo")
            await rig.syncs.create(
                {
                    "name": "leads-in",
                    "connection": "marketo",
                    "direction": "pull",
                    "object": "leads",
                    "config": {"fields": ["email"]},
                }
            )
            fault = sandbox.fail_next_http(10_000, 502)
            runs = [await rig.syncs.run("leads-in") for _ in range(2)]
            for _ in range(7):  # 5 s four times: five attempts, then dead letter
                await rig.run()
                clock.advance(seconds=6)

            bodies = _delivered(hooks)
            assert sorted(data["run_id"] for data in _of(bodies, "sync.run.failed")) == sorted(runs)
            [failing_event] = _of(bodies, "connection.failing")
            assert failing_event["connection_id"] == connection_id
            assert "502" in failing_event["reason"]
            [sync_alert] = await alerts.list_alerts(hub, LOCAL, kind="sync_run_failed")
            assert sync_alert.count == 2 and sync_alert.status == "open"
            [connection_alert] = await alerts.list_alerts(hub, LOCAL, kind="connection_failing")
            assert connection_alert.subject_id == connection_id
            opened = Counter(data["alert_id"] for data in _of(bodies, "alert.opened"))
            assert opened == {sync_alert.id: 1, connection_alert.id: 1}

            # The vendor is back: the next call succeeds, the connection recovers at once.
            fault.remaining = 0
            fixed = await rig.syncs.run("leads-in")
            await rig.run()
            run = await rig.syncs.get_run(fixed)
            assert run is not None and run.status == "succeeded"
            bodies = _delivered(hooks)
            [recovered] = _of(bodies, "connection.recovered")
            assert recovered["connection_id"] == connection_id
            assert (await alerts.get_alert(hub, LOCAL, connection_alert.id)).status == "resolved"

            # The sync's alert resolves after the quiet period (the evaluator's tick).
            clock.advance(seconds=QUIET + 1)
            await hub.alerts.evaluate()
            await rig.run()
            await hub.alerts.evaluate()
            await rig.run()
            assert (await alerts.get_alert(hub, LOCAL, sync_alert.id)).status == "resolved"
            bodies = _delivered(hooks)
            resolved = Counter(data["alert_id"] for data in _of(bodies, "alert.resolved"))
            assert resolved[sync_alert.id] == 1 and resolved[connection_alert.id] == 1
            assert len(_of(bodies, "connection.failing")) == 1
            assert len(_of(bodies, "connection.recovered")) == 1
            await hub.stop()
