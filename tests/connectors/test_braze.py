"""The Braze connector against the Braze sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from renkei.connectors import (
    CallContext,
    ConfigurationError,
    PermanentError,
    RateLimitSpec,
    RecordError,
    RecordOk,
)
from renkei.connectors.braze import BrazeConnector, plan_requests
from renkei.expr import compile_template
from renkei.sandbox.braze import DEFAULT_API_KEY, BrazeSandbox, BrazeSandboxConfig

from .conftest import RecordingClock
from .vendor_support import calls, open_ctx, serve

connector = BrazeConnector()


@dataclass
class Braze:
    sandbox: BrazeSandbox
    url: str
    clock: RecordingClock

    def open(
        self, *, api_key: str = DEFAULT_API_KEY, config: dict[str, Any] | None = None, **kw: Any
    ) -> CallContext:
        return open_ctx(
            connector,
            self.clock,
            credentials={"api_key": api_key},
            config={"instance_url": self.url, **(config or {})},
            **kw,
        )


Start = Callable[..., Braze]


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def braze(clock: RecordingClock) -> Iterator[Start]:
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> Braze:
            sandbox = BrazeSandbox(BrazeSandboxConfig(**config), clock)
            return Braze(sandbox, serve(stack, sandbox), clock)

        yield start


def attribute(n: int) -> dict[str, Any]:
    return {"external_id": f"user-{n}", "plan": "pro", "score": n}


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "external_id": f"user-{n}",
        "name": "Study Mode Selected",
        "time": "2026-01-01T00:00:00Z",
        **extra,
    }


def purchase(n: int) -> dict[str, Any]:
    return {
        "external_id": f"user-{n}",
        "product_id": "plus",
        "currency": "USD",
        "price": 9.99,
        "time": "2026-01-01T00:00:00Z",
    }


# --- authentication ------------------------------------------------------------------------


async def test_a_refused_key_is_a_clear_permanent_configuration_error(braze: Start) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open(api_key="not-the-key")
    async with ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("track_attributes", [attribute(1)], ctx)
    assert raised.value.status_code == 401
    assert "REST API key" in raised.value.message
    assert "not-the-key" not in str(raised.value)
    assert calls(sandbox, "POST", "/users/track") == 1  # no retry of a refused key
    assert sandbox.users == {}


# --- batching ------------------------------------------------------------------------------


def test_requests_hold_at_most_75_of_each_array() -> None:
    items = [("attributes", {})] * 200 + [("events", {})] * 80 + [("purchases", {})] * 10
    per_array = plan_requests(items, "per_array")
    assert len(per_array) == 3
    for chunk in per_array:
        kinds = [items[i][0] for i in chunk]
        assert all(kinds.count(kind) <= 75 for kind in ("attributes", "events", "purchases"))
    assert sorted(i for chunk in per_array for i in chunk) == list(range(290))
    combined = plan_requests(items, "combined")
    assert [len(chunk) for chunk in combined] == [75, 75, 75, 65]


async def test_users_track_splits_a_large_call_into_vendor_sized_requests(braze: Start) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open()
    payload = {
        "attributes": [attribute(n) for n in range(200)],
        "events": [event(n) for n in range(80)],
        "purchases": [purchase(n) for n in range(10)],
    }
    async with ctx:
        result = await connector.call("users_track", payload, ctx)
    assert result.ok and len(result.records) == 290
    assert result.data == {
        "requests": 3,
        "attributes_processed": 200,
        "events_processed": 80,
        "purchases_processed": 10,
    }
    assert sandbox.track_requests == 3
    assert sandbox.violations == []
    assert (
        sandbox.user("user-199") is not None and sandbox.user("user-199").attributes["score"] == 199
    )
    assert len(sandbox.events) == 80 and len(sandbox.purchases) == 10


async def test_combined_limit_accounts_get_75_objects_in_all(braze: Start) -> None:
    b = braze(object_limit_mode="combined")
    sandbox, ctx = b.sandbox, b.open(config={"object_limit": "combined"})
    payload = {
        "attributes": [attribute(n) for n in range(60)],
        "events": [event(n) for n in range(60)],
    }
    async with ctx:
        result = await connector.call("users_track", payload, ctx)
    assert result.ok and sandbox.track_requests == 2
    assert sandbox.violations == []


async def test_batch_operations_take_at_most_75_records(braze: Start) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open()
    async with ctx:
        result = await connector.call("track_events", [event(n) for n in range(75)], ctx)
        assert result.ok and sandbox.track_requests == 1
        with pytest.raises(PermanentError, match="at most 75"):
            await connector.call("track_events", [event(n) for n in range(76)], ctx)
    assert sandbox.track_requests == 1


async def test_the_sandbox_refuses_and_records_an_oversized_request(braze: Start) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open()
    async with ctx:
        with pytest.raises(PermanentError) as raised:
            await ctx.http.request(
                "POST",
                "/users/track",
                operation="raw",
                json={"events": [event(n) for n in range(76)]},
            )
    assert raised.value.status_code == 400
    assert [v.kind for v in sandbox.violations] == ["batch_size"]


# --- limits --------------------------------------------------------------------------------


async def test_calls_stay_inside_the_rate_window(braze: Start, clock: RecordingClock) -> None:
    b = braze(rate_limit=3, rate_window_seconds=3.0)
    sandbox = b.sandbox
    ctx = b.open(rate_limiter=RateLimitSpec(calls=3, per_seconds=3.0).in_memory(clock))
    async with ctx:
        for n in range(10):
            assert (await connector.call("track_attributes", [attribute(n)], ctx)).ok
    assert sandbox.track_requests == 10
    assert sandbox.violations == []
    assert clock.sleeps  # it had to wait for the window


async def test_the_advertised_remaining_and_reset_are_obeyed(
    braze: Start, clock: RecordingClock
) -> None:
    # The client's own limiter is far looser than the account's window: only the
    # X-RateLimit-Remaining/-Reset headers keep it inside.
    b = braze(rate_limit=3, rate_window_seconds=3.0)
    sandbox = b.sandbox
    ctx = b.open(rate_limiter=RateLimitSpec(1000, 3.0).in_memory(clock))
    async with ctx:
        for n in range(7):
            assert (await connector.call("track_attributes", [attribute(n)], ctx)).ok
    assert sandbox.violations == []
    assert sandbox.track_requests == 7


async def test_a_429_waits_until_the_advertised_reset(braze: Start, clock: RecordingClock) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open()
    sandbox.fail_next(1, 429, path="/users/track")
    wait_for_reset = sandbox.window.resets_at(clock.time()) - clock.time()
    async with ctx:
        result = await connector.call("track_events", [event(1)], ctx)
    assert result.ok
    assert calls(sandbox, "POST", "/users/track") == 2
    assert wait_for_reset > 0.5  # longer than the first backoff step
    assert clock.sleeps == [pytest.approx(wait_for_reset)]


async def test_5xx_is_retried_with_growing_backoff(braze: Start, clock: RecordingClock) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open()
    sandbox.fail_next(2, 503, path="/users/track")
    async with ctx:
        result = await connector.call("track_attributes", [attribute(1)], ctx)
    assert result.ok
    assert calls(sandbox, "POST", "/users/track") == 3
    assert clock.sleeps == [0.5, 1.0]
    assert sandbox.user("user-1") is not None


# --- per-object errors -----------------------------------------------------------------------


async def test_non_fatal_errors_are_reported_per_object(braze: Start) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open()
    payload = {
        "attributes": [attribute(1), {"plan": "no identifier"}, attribute(3)],
        "events": [event(1), event(2, time="yesterday")],
        "purchases": [purchase(1)],
    }
    async with ctx:
        result = await connector.call("users_track", payload, ctx)
    outcome = {r.index: r for r in result.records}
    assert isinstance(outcome[1], RecordError) and outcome[1].code == "invalid_input"
    assert isinstance(outcome[4], RecordError) and outcome[4].code == "braze_error"
    assert "'time'" in outcome[4].message
    assert all(isinstance(outcome[i], RecordOk) for i in (0, 2, 3, 5))
    assert len(sandbox.events) == 1 and len(sandbox.purchases) == 1
    assert result.data["events_processed"] == 1


async def test_a_batch_reports_which_records_braze_dropped(braze: Start) -> None:
    ctx = braze().open()
    records = [event(0), event(1, time="not a time"), event(2)]
    async with ctx:
        result = await connector.call("track_events", records, ctx)
    assert [r.ok for r in result.records] == [True, False, True]
    assert result.failed[0].index == 1


# --- flows ---------------------------------------------------------------------------------


async def test_the_design_template_drives_users_track(braze: Start) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open()
    template = compile_template(
        '{"attributes": [{"external_id": "{{ event.user_id }}",'
        ' "used_{{ event.data.properties.mode }}": true}]}'
    )
    body = template.render({"event": {"user_id": "u-9", "data": {"properties": {"mode": "learn"}}}})
    async with ctx:
        result = await connector.call("users_track", body, ctx)
    assert result.ok
    user = sandbox.user("u-9")
    assert user is not None and user.attributes == {"used_learn": True}


async def test_test_call_proves_the_key_without_recording_anything(braze: Start) -> None:
    b = braze()
    sandbox, ctx = b.sandbox, b.open()
    async with ctx:
        details = await connector.test_call(ctx)
    assert details["api_key"] == "accepted"
    assert sandbox.users == {}
    bad = b.open(api_key="wrong")
    async with bad:
        with pytest.raises(ConfigurationError):
            await connector.test_call(bad)
