"""Alerts to Slack the way docs/operations.md routes them ("Routing alerts"): a flow
triggered by ``alert.opened`` / ``alert.resolved`` posts through a Slack connection to the
Slack sandbox. A flow failing several times posts one message when its alert opens and one
when it resolves. ManualClock for the hub and the sandbox, loopback HTTP, both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import func, select

from renkei.clock import ManualClock
from renkei.connectors.connections import create_connection
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.flows.service import create_flow
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.sandbox import serve_in_thread
from renkei.sandbox.slack import DEFAULT_WEBHOOK_PATH, SlackSandbox, SlackSandboxConfig
from renkei.store.tables import jobs
from renkei.usecases import LOCAL, alerts
from tests.flows.conftest import START
from tests.flows.receivers import Receiver, receiver
from tests.support.server import test_settings as settings_for

pytestmark = pytest.mark.timeout(120)

QUIET = 600.0
TIMES = "\u00d7"  # the multiplication sign of the docs' message
# The flow of docs/operations.md, "Routing alerts", as written there.
ALERTS_TO_SLACK = {
    "name": "alerts-to-slack",
    "trigger": {"event_types": ["alert.opened", "alert.resolved"]},
    "steps": [
        {
            "id": "post",
            "action": {
                "connector": "ops-slack",
                "operation": "post_message",
                "input": {
                    "text": "{{ event.type }}: {{ data.kind }} on {{ data.subject_type }}"
                    " {{ data.subject_id }} ({{ data.count }}" + TIMES + "): {{ data.reason }}"
                },
            },
        }
    ],
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def down() -> Iterator[Receiver]:
    with receiver() as state:
        state.answer("/orders", (500, {"error": "down"}))
        yield state


@pytest.fixture
def slack(clock: ManualClock) -> Iterator[tuple[SlackSandbox, str]]:
    sandbox = SlackSandbox(SlackSandboxConfig(), clock)
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url


@pytest.fixture
async def hub(database_url: str, clock: ManualClock) -> AsyncIterator[Hub]:
    settings = settings_for(
        database_url,
        retry_schedule="10,60",
        retry_jitter=0,
        alert_quiet_seconds=QUIET,
        connector_max_wait_seconds=0.0,
        connector_batch_wait_seconds=1.0,
    )
    hub = Hub(settings, clock=clock)
    yield hub
    await hub.stop()


async def _drive(hub: Hub, clock: ManualClock) -> None:
    """Run due jobs, then move the clock to the next one, until none is left."""
    worker = hub.new_worker(run_schedules=False)
    for _ in range(100):
        await worker.run_burst()
        async with hub.database.read() as connection:
            due = (
                await connection.execute(
                    select(func.min(jobs.c.run_at)).where(jobs.c.status == "scheduled")
                )
            ).scalar()
        if due is None:
            return
        clock.set(max(due, clock.now()))
    raise AssertionError("the work did not finish")


async def test_a_failing_flow_posts_once_to_slack_when_its_alert_opens_and_once_when_it_resolves(
    hub: Hub, clock: ManualClock, down: Receiver, slack: tuple[SlackSandbox, str]
) -> None:
    sandbox, base_url = slack
    async with hub.database.transaction() as tx:
        await create_connection(
            tx,
            keyring=hub.keyring,
            registry=hub.connectors.registry,
            now=clock.now(),
            name="ops-slack",
            connector="slack",
            config={},
            credentials={"webhook_url": base_url + DEFAULT_WEBHOOK_PATH},
        )
        await create_flow(hub, tx, ALERTS_TO_SLACK)
        orders = await create_flow(
            hub,
            tx,
            {
                "name": "orders",
                "trigger": {"event_types": ["track"], "names": ["Order"]},
                "steps": [{"id": "send", "action": {"url": down.url + "/orders"}}],
            },
        )
    for number in range(3):
        now = clock.now()
        event = Event(new_id("evt"), "track", "Order", {"n": number}, now, now, "src_test")
        async with hub.database.transaction() as tx:
            await record_events(hub, tx, [event])
    await _drive(hub, clock)

    assert len(down.to("/orders")) == 9  # three runs, three attempts each, all failed
    [alert] = await alerts.list_alerts(hub, LOCAL, kind="flow_run_failed")
    assert (alert.subject_id, alert.count, alert.status) == (orders.id, 3, "open")
    assert [message.text for message in sandbox.messages] == [
        f"alert.opened: flow_run_failed on flow {orders.id} (1{TIMES}):"
        " send: the target answered HTTP 500"
    ]

    clock.advance(seconds=QUIET + 1)
    await hub.alerts.evaluate()
    await _drive(hub, clock)
    await hub.alerts.evaluate()  # nothing more to resolve, nothing more to post
    await _drive(hub, clock)
    assert (await alerts.get_alert(hub, LOCAL, alert.id)).status == "resolved"
    texts = [message.text for message in sandbox.messages]
    assert len(texts) == 2
    assert texts[1] == (
        f"alert.resolved: flow_run_failed on flow {orders.id} (3{TIMES}):"
        " send: the target answered HTTP 500"
    )
    assert sandbox.violations == []
