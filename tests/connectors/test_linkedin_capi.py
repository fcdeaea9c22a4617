"""The LinkedIn Conversions API connector against the LinkedIn sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from renkei.connectors import ConfigurationError, PermanentError, RecordError
from renkei.connectors.linkedin_capi import LinkedInConversionsConnector
from renkei.sandbox.linkedin_capi import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_AD_ACCOUNT,
    LinkedInCapiSandbox,
    LinkedInCapiSandboxConfig,
)

from .conftest import AD_NOW, RecordingClock
from .vendor_support import TokenVendor, calls, serve

connector = LinkedInConversionsConnector()
TEST_AT_EXAMPLE = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"


LinkedIn = TokenVendor[LinkedInCapiSandbox]
Start = Callable[..., LinkedIn]


@pytest.fixture
def linkedin(clock: RecordingClock, stack: contextlib.ExitStack) -> Start:
    def start(**config: Any) -> LinkedIn:
        sandbox = LinkedInCapiSandbox(LinkedInCapiSandboxConfig(**config), clock)
        url = serve(stack, sandbox)
        return TokenVendor(
            connector,
            sandbox,
            url,
            clock,
            DEFAULT_ACCESS_TOKEN,
            {"ad_account_id": DEFAULT_AD_ACCOUNT, "base_url": f"{url}/rest"},
        )

    return start


def conversion(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "conversion": 104012,
        "conversionHappenedAt": "2026-03-01T12:00:00Z",
        "conversionValue": {"currencyCode": "usd", "amount": 1500},
        "eventId": f"evt-{n}",
        "email": f"Lead{n}@Example.com",
        **extra,
    }


async def test_one_event_is_a_single_create_with_linkedins_headers(linkedin: Start) -> None:
    li = linkedin()
    async with li.open() as ctx:
        result = await connector.call(
            "send_conversion_events", [conversion(1, email=" TEST@example.com")], ctx
        )
    assert result.ok
    [event] = li.sandbox.events
    assert event == {
        "conversion": "urn:lla:llaPartnerConversion:104012",
        "conversionHappenedAt": int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp() * 1000),
        "conversionValue": {"currencyCode": "USD", "amount": "1500"},
        "eventId": "evt-1",
        "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": TEST_AT_EXAMPLE}]},
    }
    [call] = [c for c in li.sandbox.requests if c.path == "/rest/conversionEvents"]
    assert call.headers["linkedin-version"] == "202611"
    assert call.headers["x-restli-protocol-version"] == "2.0.0"
    assert "x-restli-method" not in call.headers


async def test_several_events_are_one_batch_create_with_results_per_event(
    linkedin: Start,
) -> None:
    li = linkedin()
    records = [
        conversion(0),
        conversion(1, conversion=999999),  # no such conversion rule
        conversion(2, conversionHappenedAt="2025-10-01T00:00:00Z"),  # older than 90 days
        conversion(
            3,
            email=None,
            user={"userIds": [], "userInfo": {"firstName": "mike", "lastName": "smith"}},
        ),
    ]
    records[3].pop("email")
    async with li.open() as ctx:
        result = await connector.call("send_conversion_events", records, ctx)
    assert [r.ok for r in result.records] == [True, False, False, True]
    errors = {r.index: r for r in result.records if isinstance(r, RecordError)}
    assert errors[1].code == "404" and "not found" in errors[1].message
    assert errors[2].code == "422" and "90 days" in errors[2].message
    assert [e["eventId"] for e in li.sandbox.events] == ["evt-0", "evt-3"]
    [call] = [c for c in li.sandbox.requests if c.path == "/rest/conversionEvents"]
    assert call.headers["x-restli-method"] == "BATCH_CREATE"


async def test_5000_events_a_batch(linkedin: Start) -> None:
    li = linkedin()
    async with li.open() as ctx:
        result = await connector.call(
            "send_conversion_events", [conversion(n) for n in range(5000)], ctx
        )
        assert result.ok and result.data == {"requests": 1}
        with pytest.raises(PermanentError, match="at most 5000"):
            await connector.call(
                "send_conversion_events", [conversion(n) for n in range(5001)], ctx
            )
    assert len(li.sandbox.events) == 5000 and li.sandbox.violations == []


async def test_the_sandbox_refuses_an_oversized_batch(linkedin: Start) -> None:
    li = linkedin(max_batch=2)
    async with li.open() as ctx:
        with pytest.raises(PermanentError):
            await ctx.http.request(
                "POST",
                "/conversionEvents",
                operation="raw",
                json={"elements": [{}, {}, {}]},
                headers={
                    "LinkedIn-Version": "202611",
                    "X-Restli-Protocol-Version": "2.0.0",
                    "X-RestLi-Method": "BATCH_CREATE",
                },
            )
    assert [v.kind for v in li.sandbox.violations] == ["batch_size"]


async def test_an_unhashed_email_id_is_hashed_and_a_bad_urn_is_caught_locally(
    linkedin: Start,
) -> None:
    li = linkedin()
    records = [
        {
            "conversion": "urn:lla:llaPartnerConversion:104013",
            "conversionHappenedAt": int(AD_NOW.timestamp() * 1000) - 1000,
            "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": "test@example.com"}]},
        },
        conversion(1, conversion="urn:li:somethingElse:1"),
    ]
    async with li.open() as ctx:
        result = await connector.call("send_conversion_events", records, ctx)
    assert [r.ok for r in result.records] == [True, False]
    assert li.sandbox.events[0]["user"]["userIds"] == [
        {"idType": "SHA256_EMAIL", "idValue": TEST_AT_EXAMPLE}
    ]


async def test_a_429_waits_the_retry_after_linkedin_sends(
    linkedin: Start, clock: RecordingClock
) -> None:
    li = linkedin(rate_limit=1, rate_window_seconds=60.0)
    async with li.open() as ctx:
        assert (await connector.call("send_conversion_events", [conversion(1)], ctx)).ok
        assert (await connector.call("send_conversion_events", [conversion(2)], ctx)).ok
    assert clock.sleeps == [60.0]  # the whole minute window, as Retry-After said
    assert len(li.sandbox.events) == 2
    assert calls(li.sandbox, "POST", "/rest/conversionEvents") == 3


async def test_a_refused_token_is_a_configuration_error(linkedin: Start) -> None:
    li = linkedin()
    async with li.open(token="AQV-expired") as ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("send_conversion_events", [conversion(1)], ctx)
    assert "AQV-expired" not in str(raised.value)
    assert li.sandbox.events == []


async def test_test_call_reads_the_ad_account(linkedin: Start) -> None:
    li = linkedin()
    async with li.open() as ctx:
        assert await connector.test_call(ctx) == {
            "ad_account_id": DEFAULT_AD_ACCOUNT,
            "name": "Sandbox ad account",
            "status": "ACTIVE",
        }
    async with li.open(ad_account_id="1") as ctx:
        with pytest.raises(PermanentError):
            await connector.test_call(ctx)
