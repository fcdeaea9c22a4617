"""The GA4 Measurement Protocol connector against the GA4 sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from renkei.connectors import CallContext, PermanentError, RecordError, RecordOk
from renkei.connectors.ga4 import GA4Connector, plan_requests
from renkei.sandbox.ga4 import (
    DEFAULT_API_SECRET,
    DEFAULT_MEASUREMENT_ID,
    GA4Sandbox,
    GA4SandboxConfig,
)

from .conftest import RecordingClock
from .vendor_support import calls, open_ctx, serve

connector = GA4Connector()


@dataclass
class GA4:
    sandbox: GA4Sandbox
    url: str
    clock: RecordingClock

    def open(
        self,
        *,
        api_secret: str = DEFAULT_API_SECRET,
        measurement_id: str = DEFAULT_MEASUREMENT_ID,
        **config: Any,
    ) -> CallContext:
        return open_ctx(
            connector,
            self.clock,
            credentials={"api_secret": api_secret},
            config={"base_url": self.url, "measurement_id": measurement_id, **config},
        )


Start = Callable[..., GA4]


@pytest.fixture
def ga4() -> Iterator[Start]:
    clock = RecordingClock()
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> GA4:
            sandbox = GA4Sandbox(GA4SandboxConfig(**config), clock)
            return GA4(sandbox, serve(stack, sandbox), clock)

        yield start


def purchase(n: int, client: str = "555.1", **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client,
        "name": "purchase",
        "params": {"transaction_id": f"T-{n}", "value": 10.5, "currency": "EUR"},
        **extra,
    }


async def test_events_reach_the_stream_with_client_user_and_params(
    ga4: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    g = ga4()
    ctx = g.open()
    record = purchase(1, user_id="u-1", user_properties={"plan": {"value": "pro"}})
    async with ctx:
        result = await connector.call("send_events", [record], ctx)
    assert [r.ok for r in result.records] == [True]
    [event] = g.sandbox.events
    assert (event["client_id"], event["user_id"], event["name"]) == ("555.1", "u-1", "purchase")
    assert event["params"]["transaction_id"] == "T-1"
    assert event["user_properties"] == {"plan": {"value": "pro"}}
    # The secret travels as GA4 wants it, in the query string, and only there.
    [call] = g.sandbox.requests
    assert call.query["api_secret"] == DEFAULT_API_SECRET
    assert DEFAULT_API_SECRET.encode() not in call.body
    logged = capsys.readouterr()
    assert "/mp/collect" in logged.out and DEFAULT_API_SECRET not in logged.out + logged.err


def test_requests_group_events_per_client_25_at_a_time() -> None:
    records = [purchase(n) for n in range(60)] + [purchase(n, client="777.2") for n in range(3)]
    chunks = plan_requests(records)
    assert [len(c) for c in chunks] == [25, 25, 10, 3]
    assert all(len({records[i]["client_id"] for i in chunk}) == 1 for chunk in chunks)


async def test_a_large_batch_goes_out_in_requests_of_25(ga4: Start) -> None:
    g = ga4()
    ctx = g.open()
    async with ctx:
        result = await connector.call("send_events", [purchase(n) for n in range(60)], ctx)
    assert result.ok and result.data == {"requests": 3}
    assert g.sandbox.collect_requests == 3 and len(g.sandbox.events) == 60
    assert g.sandbox.violations == [] and g.sandbox.dropped == []


async def test_the_sandbox_drops_and_records_more_than_25_events(ga4: Start) -> None:
    g = ga4()
    ctx = g.open()
    body = {"client_id": "1.1", "events": [{"name": "purchase"}] * 26}
    async with ctx:
        response = await ctx.http.request(
            "POST", "/mp/collect", operation="raw", params={"measurement_id": "G-SANDBOX01"},
            json=body,
        )  # fmt: skip
    assert response.status_code == 204  # GA4 answers 2xx even when it drops everything
    assert g.sandbox.events == [] and [v.kind for v in g.sandbox.violations] == ["batch_size"]


async def test_events_ga4_would_drop_are_per_record_errors_and_never_sent(ga4: Start) -> None:
    g = ga4()
    ctx = g.open()
    records = [
        purchase(1),
        {"client_id": "555.1", "name": "session_start"},  # reserved
        {"client_id": "555.1", "name": "9lives"},  # must start with a letter
        purchase(2, user_properties={"first_open_time": {"value": 1}}),  # reserved property
        {"client_id": "555.1", "name": "x", "params": {"ga_source": "a"}},  # reserved prefix
        {"client_id": "555.1", "name": "x", "params": {"long": "v" * 101}},  # value > 100
    ]
    async with ctx:
        result = await connector.call("send_events", records, ctx)
    assert [r.ok for r in result.records] == [True, False, False, False, False, False]
    assert all(isinstance(r, RecordError) and r.code == "invalid_input" for r in result.failed)
    assert "reserved" in result.records[1].message  # type: ignore[union-attr]
    assert len(g.sandbox.events) == 1 and g.sandbox.dropped == []


async def test_validate_first_turns_validation_messages_into_record_errors(ga4: Start) -> None:
    g = ga4(max_params=2)  # a stricter stream than the connector knows: only GA4 can say
    ctx = g.open(validate_first=True)
    records = [
        purchase(1),
        {"client_id": "555.1", "name": "ok", "params": {"a": 1, "b": 2, "c": 3}},
        purchase(3),
    ]
    async with ctx:
        result = await connector.call("send_events", records, ctx)
    assert [r.ok for r in result.records] == [False, False, False]  # purchase has 3 params too
    assert {r.code for r in result.failed} == {"ga4_validation"}
    assert "EXCEEDED_MAX_ENTITIES" in result.failed[0].message
    assert calls(g.sandbox, "POST", "/debug/mp/collect") == 1
    assert calls(g.sandbox, "POST", "/mp/collect") == 0  # nothing left worth sending
    ctx = g.open(validate_first=True)
    async with ctx:
        mixed = await connector.call(
            "send_events", [{"client_id": "1.1", "name": "a", "params": {"x": 1}}, records[1]], ctx
        )
    assert [r.ok for r in mixed.records] == [True, False]
    assert [e["name"] for e in g.sandbox.events] == ["a"]


async def test_validate_events_answers_the_validation_server(ga4: Start) -> None:
    g = ga4()
    ctx = g.open()
    async with ctx:
        bad = await connector.call(
            "validate_events", {"client_id": "1.1", "events": [{"name": "first_visit"}]}, ctx
        )
        good = await connector.call(
            "validate_events", {"client_id": "1.1", "events": [{"name": "sign_up"}]}, ctx
        )
    [message] = bad.data["validationMessages"]
    assert message["validationCode"] == "NAME_RESERVED"
    assert message["fieldPath"] == "events[0].name"
    assert good.data == {"validationMessages": []}
    assert g.sandbox.events == []  # the validation server records nothing


async def test_test_connection_uses_the_debug_endpoint(ga4: Start) -> None:
    g = ga4()
    async with g.open() as ctx:
        details = await connector.test_call(ctx)
    assert details == {"measurement_id": DEFAULT_MEASUREMENT_ID, "validation_messages": 0}
    assert calls(g.sandbox, "POST", "/debug/mp/collect") == 1 and g.sandbox.events == []
    async with g.open(measurement_id="G-NOTMINE") as ctx:
        with pytest.raises(PermanentError, match="measurement_id"):
            await connector.test_call(ctx)


async def test_a_wrong_secret_is_dropped_silently_as_ga4_does(ga4: Start) -> None:
    g = ga4()
    async with g.open(api_secret="not-the-secret") as ctx:
        result = await connector.call("send_events", [purchase(1)], ctx)
    assert result.ok  # nothing in GA4's answer says otherwise
    assert g.sandbox.events == [] and g.sandbox.dropped == ["unknown API secret"]


async def test_a_429_waits_for_retry_after(ga4: Start) -> None:
    g = ga4()
    g.sandbox.fail_next(1, 429, path="/mp/collect", headers={"Retry-After": "7"})
    async with g.open() as ctx:
        result = await connector.call("send_events", [purchase(1)], ctx)
    assert result.ok and len(g.sandbox.events) == 1
    assert calls(g.sandbox, "POST", "/mp/collect") == 2
    assert g.clock.sleeps == [7.0]


async def test_a_failed_later_request_leaves_the_sent_ones_sent(ga4: Start) -> None:
    g = ga4()
    async with g.open() as ctx:
        g.sandbox.fail_next(1, 400, path="/mp/collect")
        result = await connector.call("send_events", [purchase(n) for n in range(30)], ctx)
    outcome = [r.ok for r in result.records]
    assert outcome == [False] * 25 + [True] * 5
    assert isinstance(result.records[0], RecordError) and result.records[0].code == "400"
    assert isinstance(result.records[29], RecordOk)
