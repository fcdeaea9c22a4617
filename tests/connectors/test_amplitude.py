"""The Amplitude connector against the Amplitude sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import pytest

from renkei.connectors import CallContext, ConfigurationError, RecordError
from renkei.connectors.amplitude import AmplitudeConnector, plan_requests
from renkei.sandbox.amplitude import DEFAULT_API_KEY, AmplitudeSandbox, AmplitudeSandboxConfig

from .conftest import RecordingClock
from .vendor_support import calls, open_ctx, serve

connector = AmplitudeConnector()


@dataclass
class Amplitude:
    sandbox: AmplitudeSandbox
    url: str
    clock: RecordingClock

    def open(self, *, api_key: str = DEFAULT_API_KEY) -> CallContext:
        return open_ctx(
            connector, self.clock, credentials={"api_key": api_key}, config={"base_url": self.url}
        )


Start = Callable[..., Amplitude]


@pytest.fixture
def amplitude() -> Iterator[Start]:
    clock = RecordingClock()
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> Amplitude:
            sandbox = AmplitudeSandbox(AmplitudeSandboxConfig(**config), clock)
            return Amplitude(sandbox, serve(stack, sandbox), clock)

        yield start


def event(n: int, user: str = "user-0001", **extra: Any) -> dict[str, Any]:
    return {
        "user_id": user,
        "event_type": "Purchase",
        "time": 1_767_225_600_000 + n,
        "event_properties": {"order": n},
        **extra,
    }


async def test_events_are_uploaded_with_the_key_in_the_body(
    amplitude: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    a = amplitude()
    async with a.open() as ctx:
        result = await connector.call("upload_events", [event(1)], ctx)
    assert result.ok
    user = a.sandbox.user("user-0001")
    assert user is not None and user.events[0]["event_properties"] == {"order": 1}
    [call] = a.sandbox.requests
    body = json.loads(call.body)
    assert body["api_key"] == DEFAULT_API_KEY and "authorization" not in call.headers
    assert body["events"][0]["insert_id"]  # filled in: a retry is not counted twice
    logged = capsys.readouterr()
    assert "/2/httpapi" in logged.out and DEFAULT_API_KEY not in logged.out + logged.err


def test_requests_hold_fewer_than_2000_events_and_under_1_mb() -> None:
    assert [len(c) for c in plan_requests([event(n) for n in range(4500)])] == [2000, 2000, 500]
    big = [event(n, event_properties={"blob": "x" * 100_000}) for n in range(25)]
    chunks = plan_requests(big)
    assert len(chunks) == 3
    assert all(sum(len(json.dumps(big[i])) for i in chunk) < 1_000_000 for chunk in chunks)


async def test_a_large_batch_goes_out_at_the_vendors_size(amplitude: Start) -> None:
    a = amplitude()
    records = [event(n, user=f"user-{n % 50:04d}") for n in range(4500)]
    async with a.open() as ctx:
        result = await connector.call("upload_events", records, ctx)
    assert result.ok and result.data == {"requests": 3}
    assert a.sandbox.upload_requests == 3 and len(a.sandbox.events) == 4500
    assert a.sandbox.violations == []


async def test_the_sandbox_refuses_a_request_over_the_limit(amplitude: Start) -> None:
    a = amplitude(max_events=10)
    async with a.open() as ctx:
        result = await connector.call("upload_events", [event(n) for n in range(11)], ctx)
    assert {r.code for r in result.failed} == {"413"}
    assert [v.kind for v in a.sandbox.violations] == ["batch_size"]


async def test_an_invalid_record_is_refused_before_sending(amplitude: Start) -> None:
    a = amplitude()
    records = [event(0), event(1, user="u1"), {"user_id": "user-0002"}]  # id < 5; no type
    async with a.open() as ctx:
        result = await connector.call("upload_events", records, ctx)
    assert [r.ok for r in result.records] == [True, False, False]
    assert {r.code for r in result.failed} == {"invalid_input"}
    assert len(a.sandbox.events) == 1


async def test_a_400_fails_the_events_it_names_and_the_rest_are_sent_again(
    amplitude: Start,
) -> None:
    # The project wants ids of 8 characters or more: only Amplitude knows, and its 400
    # names the events; the rest of the request is sent again.
    a = amplitude(min_id_length=8)
    records = [event(0, user="user-00001"), event(1, user="user-1"), event(2, user="user-00003")]
    async with a.open() as ctx:
        result = await connector.call("upload_events", records, ctx)
    assert [r.ok for r in result.records] == [True, False, True]
    failed = result.records[1]
    assert isinstance(failed, RecordError) and failed.code == "amplitude_rejected"
    assert "user_id or device_id" in failed.message
    assert calls(a.sandbox, "POST", "/2/httpapi") == 2
    assert sorted(e["user_id"] for e in a.sandbox.events) == ["user-00001", "user-00003"]


async def test_a_throttled_user_waits_30_seconds_then_goes_through(amplitude: Start) -> None:
    a = amplitude(eps_threshold=1)  # 30 events per user per 30-second window
    async with a.open() as ctx:
        first = await connector.call("upload_events", [event(n) for n in range(25)], ctx)
        second = await connector.call("upload_events", [event(n) for n in range(25, 35)], ctx)
    assert first.ok and second.ok
    assert len(a.sandbox.events) == 35
    assert a.clock.sleeps == [30.0]  # Amplitude: stop sending for 30 seconds
    [violation] = a.sandbox.violations
    assert violation.kind == "rate_limit" and "user-0001" in violation.detail
    throttled = [c for c in a.sandbox.requests if c.path == "/2/httpapi"]
    assert len(throttled) == 3


async def test_a_429_with_retry_after_waits_what_it_says(amplitude: Start) -> None:
    a = amplitude()
    a.sandbox.fail_next(1, 429, path="/2/httpapi", headers={"Retry-After": "4"})
    async with a.open() as ctx:
        result = await connector.call("upload_events", [event(1)], ctx)
    assert result.ok and a.clock.sleeps == [4.0]
    assert calls(a.sandbox, "POST", "/2/httpapi") == 2


async def test_a_retried_upload_is_not_counted_twice(amplitude: Start) -> None:
    a = amplitude()
    async with a.open() as ctx:
        await connector.call("upload_events", [event(1, insert_id="order-1")], ctx)
        await connector.call("upload_events", [event(1, insert_id="order-1")], ctx)
    assert len(a.sandbox.events) == 1


async def test_identify_sets_user_properties_with_amplitudes_operations(amplitude: Start) -> None:
    a = amplitude()
    identifications = [
        {"user_id": "user-0001", "user_properties": {"$set": {"plan": "pro"}, "$add": {"n": 2}}},
        {"user_id": "user-0001", "user_properties": {"$setOnce": {"plan": "free", "src": "ad"}}},
        {"device_id": "device-42", "user_properties": {"color": "red"}},
    ]
    async with a.open() as ctx:
        result = await connector.call("identify_users", identifications, ctx)
    assert result.ok
    assert a.sandbox.user("user-0001").properties == {"plan": "pro", "n": 2, "src": "ad"}  # type: ignore[union-attr]
    assert a.sandbox.users["device:device-42"].properties == {"color": "red"}
    [call] = a.sandbox.requests
    form = parse_qs(call.body.decode())
    assert form["api_key"] == [DEFAULT_API_KEY]
    assert len(json.loads(form["identification"][0])) == 3


async def test_identify_waits_15_seconds_after_a_429(amplitude: Start) -> None:
    a = amplitude()
    a.sandbox.fail_next(1, 429, path="/identify")
    async with a.open() as ctx:
        result = await connector.call(
            "identify_users", [{"user_id": "user-0001", "user_properties": {"a": 1}}], ctx
        )
    assert result.ok and a.clock.sleeps == [15.0]


async def test_set_user_properties_keys_users_by_email(amplitude: Start) -> None:
    a = amplitude()
    records = [
        {"email": "ann@example.com", "firstname": "Ann", "score": 12},
        {"email": "bob@example.com", "user_id": "crm-00042", "firstname": "Bob"},
    ]
    async with a.open() as ctx:
        result = await connector.call("set_user_properties", records, ctx)
    assert [(r.ok, r.id) for r in result.records] == [  # type: ignore[union-attr]
        (True, "ann@example.com"),
        (True, "crm-00042"),
    ]
    ann = a.sandbox.user("ann@example.com")
    assert ann is not None and ann.properties == {
        "email": "ann@example.com",
        "firstname": "Ann",
        "score": 12,
    }
    assert a.sandbox.user("crm-00042").properties["firstname"] == "Bob"  # type: ignore[union-attr]


async def test_a_wrong_key_is_a_configuration_error_without_the_key(amplitude: Start) -> None:
    a = amplitude()
    async with a.open(api_key="wrong-key-123") as ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("upload_events", [event(1)], ctx)
        with pytest.raises(ConfigurationError):
            await connector.test_call(ctx)
    assert "wrong-key-123" not in str(raised.value)
    assert calls(a.sandbox, "POST", "/2/httpapi") == 1  # a refused key is not retried
    async with a.open() as ctx:
        assert (await connector.test_call(ctx))["api_key"] == "accepted"
    assert a.sandbox.users == {}


async def test_resending_after_400s_stops_after_three_requests(amplitude: Start) -> None:
    a = amplitude()
    naming_the_first = {
        "code": 400,
        "error": "Invalid",
        "events_with_invalid_fields": {"time": [0]},
    }
    a.sandbox.fail_next(5, 400, body=naming_the_first, path="/2/httpapi")
    async with a.open() as ctx:
        result = await connector.call("upload_events", [event(n) for n in range(5)], ctx)
    assert [r.ok for r in result.records] == [False] * 5
    assert [r.message for r in result.failed[:3]] == ["invalid field 'time'"] * 3
    assert all("3 times" in r.message for r in result.failed[3:])
    assert calls(a.sandbox, "POST", "/2/httpapi") == 3
