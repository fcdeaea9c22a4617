"""The ``alerts.evaluate`` rules no single event says: an endpoint's failure rate over the
window, a task's backlog, dead jobs; each resolves once it stops holding for the quiet
period. ManualClock, a real receiver answering 500, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from renkei.clock import ManualClock
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.flows.service import create_flow
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.queue import GiveUp, JobContext
from renkei.syncs.planner import QuotaStatus, raise_alerts
from renkei.usecases import LOCAL, alerts, webhooks
from tests.flows.conftest import START
from tests.flows.receivers import Receiver, receiver
from tests.support.server import test_settings as settings_for

pytestmark = pytest.mark.timeout(120)

QUIET = 600.0


@pytest.fixture
def down() -> Iterator[Receiver]:
    with receiver() as state:
        state.answer("/hook", (500, {}))
        yield state


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    settings = settings_for(
        database_url,
        retry_schedule="3600",
        retry_jitter=0,
        alert_quiet_seconds=QUIET,
        alert_failure_window_seconds=300,
        alert_failure_min_count=4,
        alert_job_age_minutes=5,
    )
    hub = Hub(settings, clock=ManualClock(START))

    async def boom(ctx: JobContext) -> None:
        raise GiveUp("the tests' task always fails")

    hub.registry.task("tests.boom", queue="tests")(boom)
    yield hub
    await hub.stop()


async def _burst(hub: Hub) -> None:
    worker = hub.new_worker(run_schedules=False)
    while await worker.run_burst():
        pass


async def _kinds(hub: Hub, status: str) -> dict[str, tuple[str, int]]:
    found = await alerts.list_alerts(hub, LOCAL, status=status)
    return {alert.kind: (alert.subject_id, alert.count) for alert in found}


async def test_failure_rate_backlog_and_dead_jobs_open_then_resolve(
    hub: Hub, down: Receiver
) -> None:
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    endpoint = await webhooks.create_endpoint(
        hub, LOCAL, {"name": "down", "url": down.url + "/hook", "event_types": ["order.paid"]}
    )
    for number in range(4):
        await webhooks.publish(hub, LOCAL, event_type="order.paid", data={"n": number})
    async with hub.database.transaction() as tx:
        await hub.queue.enqueue(tx, "tests.boom", {})
    await _burst(hub)  # four failed attempts (the next in an hour), one dead job
    assert len(down.to("/hook")) == 4
    async with hub.database.transaction() as tx:  # waits, for no worker serves its queue
        await hub.queue.enqueue(tx, "tests.boom", {}, queue="nobody")

    await hub.alerts.evaluate()
    opened = await _kinds(hub, "open")
    assert opened == {
        "endpoint_failure_rate": (endpoint.id, 1),
        "dead_jobs": ("tests.boom", 1),
    }

    clock.advance(minutes=6)
    await hub.alerts.evaluate()
    opened = await _kinds(hub, "open")
    assert opened["job_backlog"] == ("tests.boom", 1)
    # The attempts and the dead job are older than the window now: not seen again.
    assert opened["endpoint_failure_rate"] == (endpoint.id, 1)
    assert opened["dead_jobs"] == ("tests.boom", 1)

    clock.advance(minutes=5)  # eleven minutes since they were last seen: quiet
    await hub.alerts.evaluate()
    assert set(await _kinds(hub, "resolved")) == {"endpoint_failure_rate", "dead_jobs"}
    assert await _kinds(hub, "open") == {"job_backlog": ("tests.boom", 2)}  # still waiting


async def test_a_flow_whose_runs_mostly_fail_over_the_window_opens_a_failure_rate_alert(
    hub: Hub, down: Receiver
) -> None:
    """Of the runs that ended in the window, ``busy`` failed three of four (over the rate,
    enough runs to say), ``steady`` one of four (under it): one ``flow_failure_rate``."""
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    down.answer("/busy", (400, {}), (400, {}), (400, {}), (200, {}))
    down.answer("/steady", (400, {}), (200, {}))
    flows = {}
    async with hub.database.transaction() as tx:
        for name in ("busy", "steady"):
            spec = {
                "name": name,
                "trigger": {"event_types": ["track"], "names": ["Order"]},
                "steps": [{"id": "send", "action": {"url": f"{down.url}/{name}"}}],
            }
            flows[name] = (await create_flow(hub, tx, spec)).id
    for number in range(4):
        now = clock.now()
        event = Event(new_id("evt"), "track", "Order", {"n": number}, now, now, "src_test")
        async with hub.database.transaction() as tx:
            await record_events(hub, tx, [event])
    await _burst(hub)
    assert (len(down.to("/busy")), len(down.to("/steady"))) == (4, 4)

    await hub.alerts.evaluate()
    [rate] = await alerts.list_alerts(hub, LOCAL, kind="flow_failure_rate")
    assert (rate.subject_type, rate.subject_id, rate.count) == ("flow", flows["busy"], 1)
    assert rate.sample is not None
    assert (rate.sample["failed"], rate.sample["runs"]) == (3, 4)

    clock.advance(minutes=6)  # the runs are older than the window: not seen again
    await hub.alerts.evaluate()
    assert (await alerts.get_alert(hub, LOCAL, rate.id)).count == 1
    clock.advance(minutes=5)  # quiet
    await hub.alerts.evaluate()
    assert (await alerts.get_alert(hub, LOCAL, rate.id)).status == "resolved"


async def test_an_event_a_client_publishes_under_a_failure_type_opens_no_alert(hub: Hub) -> None:
    data = {"flow_id": "flw_x", "run_id": "run_x", "reason": "made up"}
    await webhooks.publish(hub, LOCAL, event_type="flow.run.failed", data=data)
    assert list(await alerts.list_alerts(hub, LOCAL)) == []


async def test_an_alert_the_on_call_endpoint_cannot_take_raises_no_more_alerts(
    hub: Hub, down: Receiver
) -> None:
    """The endpoint that takes ``alert.*`` is down: its deliveries of alerts are spent, and
    say nothing more (no ``message.attempt.exhausted``, so no alert about the alert)."""
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    fields = {"name": "on-call", "url": down.url + "/hook", "event_types": ["alert.opened"]}
    await webhooks.create_endpoint(hub, LOCAL, fields)
    async with hub.database.transaction() as tx:
        await hub.queue.enqueue(tx, "tests.boom", {})
    await _burst(hub)
    await hub.alerts.evaluate()  # dead_jobs opens: alert.opened goes to the endpoint
    for _ in range(3):
        await _burst(hub)
        clock.advance(seconds=3601)
    assert len(down.to("/hook")) == 2  # the first attempt and its one retry, then spent
    assert set(await _kinds(hub, "open")) == {"dead_jobs"}


async def test_a_rule_still_holding_after_a_long_pause_keeps_its_alert_open(hub: Hub) -> None:
    """The evaluator did not run for longer than the quiet period (workers down): the backlog
    is still there, so its alert is seen again, not resolved and opened anew."""
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    async with hub.database.transaction() as tx:
        await hub.queue.enqueue(tx, "tests.boom", {}, queue="nobody")
    clock.advance(minutes=6)
    await hub.alerts.evaluate()
    [opened] = await alerts.list_alerts(hub, LOCAL, kind="job_backlog")
    clock.advance(seconds=QUIET + 60)
    await hub.alerts.evaluate()
    [still] = await alerts.list_alerts(hub, LOCAL, kind="job_backlog")
    assert (still.id, still.status, still.count) == (opened.id, "open", 2)


async def test_a_quota_past_80_and_100_percent_opens_an_alert_each_on_the_connection(
    hub: Hub,
) -> None:
    """Issue 17: quota above 80 % and exhausted. Once per vendor day each, on the connection
    by its id (its name may change), resolved after the quiet period."""
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    status = QuotaStatus(
        connection="marketo-prod",
        connection_id="conn_quota_1",
        limit=100,
        used=85,
        budget=90,
        resets_at=clock.now() + timedelta(hours=12),
        projected=170,
        mode="coalesce",
    )
    async with hub.database.transaction() as tx:
        assert await raise_alerts(hub, tx, status) == ["connection.quota.warning"]
    exhausted = replace(status, used=100, mode="parked")
    async with hub.database.transaction() as tx:
        assert await raise_alerts(hub, tx, exhausted) == ["connection.quota.exhausted"]
    async with hub.database.transaction() as tx:
        assert await raise_alerts(hub, tx, exhausted) == []  # once per vendor day
    assert await _kinds(hub, "open") == {
        "quota_warning": ("conn_quota_1", 1),
        "quota_exhausted": ("conn_quota_1", 1),
    }
    [warning] = await alerts.list_alerts(hub, LOCAL, kind="quota_warning")
    assert warning.subject_type == "connection"

    clock.advance(seconds=QUIET + 60)
    await hub.alerts.evaluate()
    assert set(await _kinds(hub, "resolved")) == {"quota_warning", "quota_exhausted"}
    assert await _kinds(hub, "open") == {}
