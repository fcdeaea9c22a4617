"""The Meta Conversions API connector against the Meta sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from renkei.connectors import ConfigurationError, PermanentError, RecordError
from renkei.connectors.meta_capi import MetaConversionsConnector
from renkei.sandbox.meta_capi import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_PIXEL_ID,
    MetaCapiSandbox,
    MetaCapiSandboxConfig,
)

from .conftest import RecordingClock
from .vendor_support import TokenVendor, calls, serve

connector = MetaConversionsConnector()
# printf %s test@example.com | sha256sum, and 16505551212 (Meta: digits, no +).
TEST_AT_EXAMPLE = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
DIGITS_16505551212 = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
DIGITS_819012345678 = "0ad07193350775c6d4377f8b039d32877e66c69a454ed886b05279771c0fca0b"


Meta = TokenVendor[MetaCapiSandbox]
Start = Callable[..., Meta]


@pytest.fixture
def meta(clock: RecordingClock, stack: contextlib.ExitStack) -> Start:
    def start(**config: Any) -> Meta:
        sandbox = MetaCapiSandbox(MetaCapiSandboxConfig(**config), clock)
        url = serve(stack, sandbox)
        return TokenVendor(
            connector,
            sandbox,
            url,
            clock,
            DEFAULT_ACCESS_TOKEN,
            {"pixel_id": DEFAULT_PIXEL_ID, "base_url": url},
        )

    return start


def purchase(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": "2026-03-02T14:30:00Z",
        "event_id": f"order-{n}",
        "action_source": "website",
        "user_data": {"em": f"Buyer{n}@Example.com", "client_ip_address": "203.0.113.9"},
        "custom_data": {"value": 10.0 + n, "currency": "EUR"},
        **extra,
    }


async def test_events_go_to_the_pixel_with_hashed_user_data(meta: Start) -> None:
    m = meta()
    event = purchase(1, user_data={"em": " TEST@example.com", "ph": "+1 (650) 555-1212"})
    async with m.open() as ctx:
        result = await connector.call("send_events", [event], ctx)
    assert result.ok and result.records[0].status == "received"  # type: ignore[union-attr]
    [sent] = m.sandbox.events
    assert sent["user_data"] == {"em": [TEST_AT_EXAMPLE], "ph": [DIGITS_16505551212]}
    assert sent["event_time"] == int(datetime(2026, 3, 2, 14, 30, tzinfo=UTC).timestamp())
    [call] = [c for c in m.sandbox.requests if c.path.endswith("/events")]
    assert call.path == f"/v24.0/{DEFAULT_PIXEL_ID}/events"
    assert call.query["access_token"] == DEFAULT_ACCESS_TOKEN


async def test_a_test_event_code_routes_events_to_test_events(meta: Start) -> None:
    m = meta()
    async with m.open(test_event_code="TEST4242") as ctx:
        assert (await connector.call("send_events", [purchase(1)], ctx)).ok
    assert m.sandbox.events == []
    assert [e["event_id"] for e in m.sandbox.test_events["TEST4242"]] == ["order-1"]


async def test_1000_events_a_request(meta: Start) -> None:
    m = meta()
    async with m.open() as ctx:
        result = await connector.call("send_events", [purchase(n) for n in range(1000)], ctx)
        assert result.ok and result.data == {"requests": 1}
        with pytest.raises(PermanentError, match="at most 1000"):
            await connector.call("send_events", [purchase(n) for n in range(1001)], ctx)
    assert len(m.sandbox.events) == 1000
    assert m.sandbox.violations == []


async def test_the_sandbox_refuses_more_than_1000_events(meta: Start) -> None:
    m = meta()
    async with m.open() as ctx:
        with pytest.raises(PermanentError):
            await ctx.http.request(
                "POST",
                f"/{DEFAULT_PIXEL_ID}/events",
                operation="raw",
                json={"data": [purchase(n) for n in range(1001)]},
            )
    assert [v.kind for v in m.sandbox.violations] == ["batch_size"]


async def test_one_invalid_event_fails_alone_and_the_rest_are_delivered(meta: Start) -> None:
    # Meta rejects a whole request for one bad event; the connector splits the batch.
    m = meta()
    records = [purchase(n) for n in range(8)]
    records[5] = purchase(5, event_time="2026-02-01T00:00:00Z")  # more than 7 days old
    async with m.open() as ctx:
        result = await connector.call("send_events", records, ctx)
    assert [r.ok for r in result.records] == [True] * 5 + [False] + [True] * 2
    failed = result.records[5]
    assert isinstance(failed, RecordError) and failed.code == "100/2804004"
    assert "7 days" in failed.message
    assert sorted(e["event_id"] for e in m.sandbox.events) == [
        f"order-{n}" for n in range(8) if n != 5
    ]
    assert result.data["requests"] <= 1 + 2 * 3  # a halving per level, never one per event


async def test_a_request_wide_error_is_not_split(meta: Start) -> None:
    m = meta()
    async with m.open(pixel_id="999") as ctx:
        result = await connector.call("send_events", [purchase(n) for n in range(4)], ctx)
    assert {r.code for r in result.records if isinstance(r, RecordError)} == {"100/33"}
    assert calls(m.sandbox, "POST", "/v24.0/999/events") == 1


async def test_invalid_input_is_caught_before_sending(meta: Start) -> None:
    m = meta()
    bad = [
        purchase(1, action_source="carrier pigeon"),
        purchase(2, user_data={"em": "not an address"}),
        purchase(3),
    ]
    async with m.open() as ctx:
        result = await connector.call("send_events", bad, ctx)
    assert [r.ok for r in result.records] == [False, False, True]
    assert len(m.sandbox.events) == 1


async def test_throttling_is_retried_with_retry_after(meta: Start, clock: RecordingClock) -> None:
    m = meta()
    m.sandbox.fail_next(
        1, 429, path=f"/v24.0/{DEFAULT_PIXEL_ID}/events", headers={"Retry-After": "4"}
    )
    async with m.open() as ctx:
        assert (await connector.call("send_events", [purchase(1)], ctx)).ok
    assert clock.sleeps == [4.0]


async def test_meta_rate_limit_codes_are_retried_and_windows_respected(
    meta: Start, clock: RecordingClock
) -> None:
    m = meta(rate_limit=1, rate_window_seconds=1.0)
    async with m.open() as ctx:
        assert (await connector.call("send_events", [purchase(1)], ctx)).ok
        assert (await connector.call("send_events", [purchase(2)], ctx)).ok  # error 4, retried
    # The window is one call per whole second: refused at +0 s and +0.5 s, through at +1.5 s.
    assert clock.sleeps == [0.5, 1.0]
    assert len(m.sandbox.events) == 2
    assert [v.kind for v in m.sandbox.violations] == ["rate_limit", "rate_limit"]


async def test_a_refused_token_is_a_configuration_error_without_the_token(meta: Start) -> None:
    m = meta()
    async with m.open(token="EAAB-stolen") as ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("send_events", [purchase(1)], ctx)
    assert raised.value.code == "190"
    assert "EAAB-stolen" not in str(raised.value)
    assert calls(m.sandbox, "POST", "/v24.0") == 1


async def test_duplicate_event_ids_are_deduplicated_by_meta(meta: Start) -> None:
    m = meta()
    async with m.open() as ctx:
        await connector.call("send_events", [purchase(1)], ctx)
        await connector.call("send_events", [purchase(1)], ctx)
    assert len(m.sandbox.events) == 1 and m.sandbox.deduplicated == 1


async def test_test_call_reads_the_pixel(meta: Start) -> None:
    m = meta()
    async with m.open() as ctx:
        assert await connector.test_call(ctx) == {
            "pixel_id": DEFAULT_PIXEL_ID,
            "name": "Sandbox pixel",
        }
    async with m.open(token="nope") as ctx:
        with pytest.raises(ConfigurationError):
            await connector.test_call(ctx)
    assert m.sandbox.events == []


async def test_national_phone_numbers_take_the_connections_country_code(meta: Start) -> None:
    m = meta()
    event = purchase(1, user_data={"ph": "090-1234-5678"})
    async with m.open(default_phone_country_code="81") as ctx:
        assert (await connector.call("send_events", [event], ctx)).ok
    # printf %s 819012345678 | sha256sum (Meta: digits, no +)
    assert m.sandbox.events[0]["user_data"]["ph"] == [DIGITS_819012345678]
