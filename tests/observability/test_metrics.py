"""The operations metrics at ``GET /metrics``, scraped over loopback after a delivery, a flow
run and connector calls: their series carry the configured objects' ids as labels (never an
event or user id), and the gauges read on scrape show the queue's backlog by task."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from renkei.clock import ManualClock
from renkei.connectors.errors import PermanentError
from renkei.connectors.http import ConnectorHTTP
from renkei.connectors.limits import InMemoryDailyQuota
from renkei.events.envelope import Event
from renkei.flows.service import create_flow
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.usecases import LOCAL, webhooks
from tests.flows.conftest import START
from tests.flows.receivers import Receiver, receiver
from tests.support.server import running_hub
from tests.support.server import test_settings as settings_for
from tests.syncs.harness import START as SYNC_START
from tests.syncs.harness import marketo, sync_rig

pytestmark = pytest.mark.timeout(120)

SECRET = "whsec_" + base64.b64encode(b"metrics-test-signing-secret!!").decode()


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def _value(metrics: str, name: str, **labels: str) -> float:
    """The value of the one series of ``name`` whose labels include ``labels``."""
    found = []
    for line in metrics.splitlines():
        match = re.fullmatch(r"([a-z_]+)\{(.*)\} (\S+)", line)
        if match is None or match[1] != name:
            continue
        have = dict(re.findall(r'([a-z_]+)="([^"]*)"', match[2]))
        if all(have.get(key) == value for key, value in labels.items()):
            found.append(float(match[3]))
    assert len(found) == 1, (name, labels, found)
    return found[0]


async def test_series_after_a_delivery_a_flow_run_and_connector_calls(
    database_url: str, hooks: Receiver
) -> None:
    hub = Hub(settings_for(database_url), clock=ManualClock(START))
    try:
        endpoint = await webhooks.create_endpoint(
            hub,
            LOCAL,
            {"name": "shop", "url": hooks.url + "/webhook", "event_types": ["track"]},
            secret=SECRET,
        )
        async with hub.database.transaction() as tx:
            flow = await create_flow(
                hub,
                tx,
                {
                    "name": "orders",
                    "trigger": {"event_types": ["track"], "names": ["Order"]},
                    "steps": [{"id": "notify", "action": {"url": hooks.url + "/flow"}}],
                },
            )
        now = hub.clock.now()
        event = Event(new_id("evt"), "track", "Order", {"total": 3}, now, now, "src_test")
        await hub.ingest.store([event])
        worker = hub.new_worker()
        while await worker.run_burst():
            pass
        # A job due for a minute that no worker has taken yet.
        async with hub.database.transaction() as tx:
            await hub.queue.enqueue(
                tx, "flows.step", {"r": "run_none", "n": 0}, run_at=now - timedelta(minutes=1)
            )
    finally:
        await hub.stop()

    hooks.answer("/vendor/bad", (400, {"error": "no"}))
    connection = new_id("conn")
    async with ConnectorHTTP(
        hooks.url,
        connector="http",
        connection=connection,
        quota=InMemoryDailyQuota(1000),
    ) as client:
        await client.request("POST", "/vendor/ok", operation="upsert", json={"a": 1})
        with pytest.raises(PermanentError):
            await client.request("POST", "/vendor/bad", operation="upsert", json={"a": 1})

    with running_hub(database_url, with_worker=False) as (base_url, _):
        metrics = httpx.get(f"{base_url}/metrics", timeout=30).text

    assert event.id not in metrics
    ep = endpoint.id
    assert _value(metrics, "renkei_delivery_attempts_total", endpoint=ep, outcome="succeeded") == 1
    assert _value(metrics, "renkei_delivery_attempt_seconds_count", endpoint=ep) == 1
    assert _value(metrics, "renkei_flow_runs_total", flow=flow.id, outcome="succeeded") == 1
    calls = {"connector": "http", "connection": connection, "operation": "upsert"}
    assert _value(metrics, "renkei_connector_call_outcomes_total", **calls, outcome="ok") == 1
    assert (
        _value(metrics, "renkei_connector_call_outcomes_total", **calls, outcome="permanent") == 1
    )
    assert _value(metrics, "renkei_connector_call_duration_seconds_count", **calls) == 2
    quota = {"connector": "http", "connection": connection}
    assert _value(metrics, "renkei_connector_quota_limit", **quota) == 1000
    assert _value(metrics, "renkei_connector_quota_remaining", **quota) == 998
    assert _value(metrics, "renkei_jobs_pending", task="flows.step") == 1
    assert _value(metrics, "renkei_jobs_oldest_pending_seconds", task="flows.step") >= 60
    for gauge in ("renkei_jobs_dead", "renkei_alerts_open", "renkei_sync_runs_total"):
        assert f"# TYPE {gauge} " in metrics


async def test_sync_runs_and_records_by_sync_and_outcome(database_url: str) -> None:
    clock = ManualClock(SYNC_START)
    with marketo(clock, seed_leads=3) as (_, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            sync = await rig.syncs.create(
                {
                    "name": "leads-in",
                    "connection": "marketo",
                    "direction": "pull",
                    "object": "leads",
                    "config": {"fields": ["email"]},
                }
            )
            await rig.syncs.run("leads-in")
            await rig.run()

    def sample(name: str, outcome: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"sync": sync.id, "outcome": outcome})

    assert sample("renkei_sync_runs_total", "succeeded") == 1
    assert sample("renkei_sync_runs_total", "failed") is None
    # The seeded leads predate the run's paging token: two calls, no lead changes read.
    assert sample("renkei_sync_records_total", "calls") == 2
    assert sample("renkei_sync_records_total", "read") == 0
