"""Tracing: with an OTLP endpoint set, one trace per event reaches a local OTLP receiver
(the ingest, its group commit and fan-out, a flow step, the delivery attempt), and the
receivers of the flow's HTTP step and of the webhook get a ``traceparent`` of that trace.
Without one, nothing is exported and no ``traceparent`` is sent. Real HTTP on loopback,
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from renkei.clock import ManualClock
from renkei.connectors.errors import PermanentError
from renkei.connectors.http import ConnectorHTTP
from renkei.events.envelope import Event
from renkei.flows.service import create_flow
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.observability import tracing
from renkei.usecases import LOCAL, webhooks
from tests.flows.conftest import START
from tests.flows.receivers import Receiver, receiver
from tests.support.server import test_settings as settings_for
from tests.syncs.harness import START as SYNC_START
from tests.syncs.harness import marketo, sync_rig

pytestmark = pytest.mark.timeout(120)

SECRET = "whsec_" + base64.b64encode(b"tracing-test-signing-secret!!").decode()


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def collector() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def otlp(collector: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """Tracing on, exporting to ``collector`` (and off again afterwards)."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "renkei-test")
    yield collector
    tracing.shutdown()


async def _shop_endpoint(hub: Hub, hooks: Receiver) -> None:
    await webhooks.create_endpoint(
        hub,
        LOCAL,
        {"name": "shop", "url": hooks.url + "/webhook", "event_types": ["track"]},
        secret=SECRET,
    )


async def _ingest_order(hub: Hub) -> str:
    now = hub.clock.now()
    event = Event(new_id("evt"), "track", "Order", {"total": 3}, now, now, "src_test")
    assert [stored.id for stored in await hub.ingest.store([event])] == [event.id]
    return event.id


async def _drain(hub: Hub) -> None:
    worker = hub.new_worker()
    while await worker.run_burst():
        pass


async def _scenario(database_url: str, hooks: Receiver) -> str:
    """An event ingested, taken by a flow whose HTTP step calls ``hooks`` and delivered to
    an endpoint on ``hooks``; returns the event id."""
    hub = Hub(settings_for(database_url), clock=ManualClock(START))
    try:
        await _shop_endpoint(hub, hooks)
        async with hub.database.transaction() as tx:
            await create_flow(
                hub,
                tx,
                {
                    "name": "orders",
                    "trigger": {"event_types": ["track"], "names": ["Order"]},
                    "steps": [{"id": "notify", "action": {"url": hooks.url + "/flow"}}],
                },
            )
        event_id = await _ingest_order(hub)
        await _drain(hub)
        return event_id
    finally:
        await hub.stop()  # flushes the spans


def _spans(collector: Receiver) -> list[Any]:
    spans = []
    for request in collector.to("/v1/traces"):
        assert request.headers["content-type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource_spans in export.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert attributes["service.name"] == "renkei-test"
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    return spans


def _attributes(span: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value"))
    return values


async def test_one_trace_per_event_across_the_queue(
    database_url: str, hooks: Receiver, otlp: Receiver
) -> None:
    event_id = await _scenario(database_url, hooks)

    spans = _spans(otlp)
    by_name: dict[str, list[Any]] = defaultdict(list)
    for span in spans:
        by_name[span.name].append(span)
    [ingest] = by_name["renkei.ingest"]
    trace_id = ingest.trace_id
    assert not ingest.parent_span_id  # the event's root
    assert _attributes(ingest)["renkei.event.id"] == event_id
    names = ("renkei.group_commit", "renkei.fanout", "renkei.flow.step")
    for name in (*names, "renkei.delivery.attempt"):
        [span] = by_name[name]
        assert span.trace_id == trace_id, name
        assert _attributes(span)["renkei.event.id"] == event_id
    for name in names:  # children of the ingest span, recorded or not in the same process
        assert by_name[name][0].parent_span_id == ingest.span_id
    [attempt] = by_name["renkei.delivery.attempt"]
    assert attempt.parent_span_id == ingest.span_id
    attempt_attributes = _attributes(attempt)
    assert attempt_attributes["renkei.outcome"] == "succeeded"
    assert attempt_attributes["renkei.endpoint.id"].startswith("ep_")
    assert attempt_attributes["http.response.status_code"] == 200
    [step] = by_name["renkei.flow.step"]
    assert _attributes(step)["renkei.flow.id"].startswith("flow_")
    assert _attributes(step)["renkei.outcome"] == "succeeded"

    # The receivers continue the trace: the webhook under the attempt, the flow's call
    # under the step.
    [webhook] = hooks.to("/webhook")
    [flow_call] = hooks.to("/flow")
    assert webhook.headers["traceparent"] == f"00-{trace_id.hex()}-{attempt.span_id.hex()}-01"
    assert flow_call.headers["traceparent"] == f"00-{trace_id.hex()}-{step.span_id.hex()}-01"


async def test_a_retry_an_hour_later_by_another_worker_joins_the_event_s_trace(
    database_url: str, hooks: Receiver, otlp: Receiver
) -> None:
    """The trace is the event's, not a process's: the first attempt fails, and the retry an
    hour later is made by another hub (as a restarted or other worker would) from the
    database alone. Both attempts are spans of the event's trace, under its ingest span."""
    hooks.answer("/webhook", (500, {}), (200, {}))
    settings = settings_for(database_url, retry_schedule=(3600.0,), retry_jitter=0.0)
    first = Hub(settings, clock=ManualClock(START))
    try:
        await _shop_endpoint(first, hooks)
        await _ingest_order(first)
        await _drain(first)
    finally:
        await first.stop()
    second = Hub(settings, clock=ManualClock(START + timedelta(hours=1, seconds=1)))
    try:
        await _drain(second)
    finally:
        await second.stop()

    assert len(hooks.to("/webhook")) == 2  # 500, then 200
    by_name: dict[str, list[Any]] = defaultdict(list)
    for span in _spans(otlp):
        by_name[span.name].append(span)
    [ingest] = by_name["renkei.ingest"]
    attempts = by_name["renkei.delivery.attempt"]
    assert len(attempts) == 2
    assert {span.trace_id for span in attempts} == {ingest.trace_id}
    assert {span.parent_span_id for span in attempts} == {ingest.span_id}
    outcomes = sorted(_attributes(span)["renkei.outcome"] for span in attempts)
    assert outcomes[-1] == "succeeded" and len(set(outcomes)) == 2


async def test_off_without_an_endpoint(
    database_url: str, hooks: Receiver, collector: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    await _scenario(database_url, hooks)

    assert not tracing.ENABLED
    assert collector.requests == []
    assert len(hooks.requests) == 2
    assert all("traceparent" not in request.headers for request in hooks.requests)


async def test_a_connector_call_is_a_span_whose_context_the_vendor_gets(
    hooks: Receiver, otlp: Receiver
) -> None:
    hooks.answer("/vendor/bad", (400, {"error": "no"}))
    tracing.configure()
    async with ConnectorHTTP(hooks.url, connector="http", connection="conn_traced") as client:
        with tracing.span("renkei.flow.step", event_id="evt_traced"):
            await client.request("POST", "/vendor/ok", operation="upsert", json={})
            with pytest.raises(PermanentError):
                await client.request("POST", "/vendor/bad", operation="upsert", json={})
    tracing.flush()

    calls = [span for span in _spans(otlp) if span.name == "renkei.connector.call"]
    assert [_attributes(span)["renkei.outcome"] for span in calls] == ["ok", "permanent"]
    [step] = [span for span in _spans(otlp) if span.name == "renkei.flow.step"]
    for span, request in zip(calls, hooks.requests, strict=True):
        assert span.parent_span_id == step.span_id
        assert _attributes(span)["renkei.connection.id"] == "conn_traced"
        assert _attributes(span)["renkei.connector.operation"] == "upsert"
        trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
        assert request.headers["traceparent"] == f"00-{trace_id}-{span_id}-01"


async def test_a_sync_run_is_a_span_over_its_connector_calls(
    database_url: str, otlp: Receiver
) -> None:
    clock = ManualClock(SYNC_START)
    with marketo(clock, seed_leads=3) as (_, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            await rig.syncs.create(
                {
                    "name": "leads-in",
                    "connection": "marketo",
                    "direction": "pull",
                    "object": "leads",
                    "config": {"fields": ["email"]},
                }
            )
            run_id = await rig.syncs.run("leads-in")
            await rig.run()
    tracing.flush()

    spans = _spans(otlp)
    [run] = [span for span in spans if span.name == "renkei.sync.run"]
    assert _attributes(run)["renkei.sync_run.id"] == run_id
    assert _attributes(run)["renkei.outcome"] == "succeeded"
    calls = [span for span in spans if span.name == "renkei.connector.call"]
    assert calls
    for call in calls:
        assert (call.trace_id, call.parent_span_id) == (run.trace_id, run.span_id)
        assert _attributes(call)["renkei.connector"] == "marketo"
