"""The Google Ads connector against the Google Ads sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from renkei.connectors import CallContext, ConfigurationError, PermanentError, RecordError
from renkei.connectors.google_ads import GoogleAdsConnector
from renkei.sandbox.google_ads import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_CUSTOMER_ID,
    DEFAULT_DEVELOPER_TOKEN,
    DEFAULT_REFRESH_TOKEN,
    GoogleAdsSandbox,
    GoogleAdsSandboxConfig,
)

from .conftest import RecordingClock
from .vendor_support import calls, open_ctx, serve

connector = GoogleAdsConnector()
# printf %s janedoe@gmail.com | sha256sum, and +16505551212 (Google keeps the +).
JANEDOE_AT_GMAIL = "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
PLUS_16505551212 = "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"
PLUS_819012345678 = "3d06a39d40790f11761295e053029378ae28c4b4f6f301693005e079f3d4ca64"
CREDENTIALS = {
    "developer_token": DEFAULT_DEVELOPER_TOKEN,
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
    "refresh_token": DEFAULT_REFRESH_TOKEN,
}


@dataclass
class GoogleAds:
    sandbox: GoogleAdsSandbox
    url: str
    clock: RecordingClock

    def open(self, credentials: dict[str, str] | None = None, **config: Any) -> CallContext:
        return open_ctx(
            connector,
            self.clock,
            credentials={**CREDENTIALS, **(credentials or {})},
            config={
                "customer_id": "123-456-7890",
                "base_url": self.url,
                "token_url": f"{self.url}/token",
                **config,
            },
        )


Start = Callable[..., GoogleAds]


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def google_ads(clock: RecordingClock) -> Iterator[Start]:
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> GoogleAds:
            sandbox = GoogleAdsSandbox(GoogleAdsSandboxConfig(**config), clock)
            return GoogleAds(sandbox, serve(stack, sandbox), clock)

        yield start


def click(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "gclid": f"Cj0KCQiA{n:06d}",
        "conversion_action": 1001,
        "conversion_date_time": "2026-03-02T15:00:00Z",
        "conversion_value": 42.5,
        "currency_code": "usd",
        **extra,
    }


async def test_click_conversions_are_uploaded_in_googles_format(
    google_ads: Start, clock: RecordingClock
) -> None:
    g = google_ads()
    async with g.open() as ctx:
        result = await connector.call("upload_click_conversions", [click(1)], ctx)
    assert result.ok
    [sent] = g.sandbox.conversions
    assert sent["conversionAction"] == f"customers/{DEFAULT_CUSTOMER_ID}/conversionActions/1001"
    assert sent["conversionDateTime"] == "2026-03-02 15:00:00+00:00"
    assert sent["currencyCode"] == "USD" and sent["conversionValue"] == 42.5
    [call] = [c for c in g.sandbox.requests if c.path.endswith(":uploadClickConversions")]
    assert call.path == f"/v22/customers/{DEFAULT_CUSTOMER_ID}:uploadClickConversions"
    assert call.headers["developer-token"] == DEFAULT_DEVELOPER_TOKEN
    assert "login-customer-id" not in call.headers
    assert g.sandbox.counters.tokens_issued == 1  # the refresh token was exchanged once


async def test_enhanced_conversions_for_leads_send_identifiers_hashed_as_google_wants(
    google_ads: Start,
) -> None:
    g = google_ads()
    lead = {
        "conversion_action": "customers/1234567890/conversionActions/1002",
        "conversion_date_time": "2026-03-02 10:00:00-05:00",
        "email": " Jane.Doe@GMail.com ",
        "phone": "+1 (650) 555-1212",
        "order_id": "lead-7",
    }
    async with g.open(login_customer_id="999-000-1111") as ctx:
        result = await connector.call("upload_click_conversions", [lead], ctx)
    assert result.ok
    [sent] = g.sandbox.conversions
    assert sent["userIdentifiers"] == [
        {"hashedEmail": JANEDOE_AT_GMAIL},
        {"hashedPhoneNumber": PLUS_16505551212},
    ]
    assert sent["conversionDateTime"] == "2026-03-02 10:00:00-05:00"
    assert "gclid" not in sent
    call = next(c for c in g.sandbox.requests if c.path.endswith(":uploadClickConversions"))
    assert call.headers["login-customer-id"] == "9990001111"


async def test_2000_conversions_a_request_and_a_bigger_call_is_refused(google_ads: Start) -> None:
    g = google_ads()
    async with g.open() as ctx:
        result = await connector.call(
            "upload_click_conversions", [click(n) for n in range(2000)], ctx
        )
        assert result.ok and result.data == {"requests": 1}
        with pytest.raises(PermanentError, match="at most 2000"):
            await connector.call("upload_click_conversions", [click(n) for n in range(2001)], ctx)
    assert len(g.sandbox.conversions) == 2000
    assert g.sandbox.violations == []


async def test_the_sandbox_refuses_more_than_2000_conversions(google_ads: Start) -> None:
    g = google_ads()
    async with g.open() as ctx:
        with pytest.raises(PermanentError, match="TOO_MANY_CONVERSIONS_IN_REQUEST"):
            await ctx.http.request(
                "POST",
                f"/customers/{DEFAULT_CUSTOMER_ID}:uploadClickConversions",
                operation="raw",
                json={"conversions": [{}] * 2001, "partialFailure": True},
            )
    assert [v.kind for v in g.sandbox.violations] == ["batch_size"]


async def test_a_partial_failure_fails_only_the_conversions_google_names(
    google_ads: Start,
) -> None:
    g = google_ads()
    records = [
        click(0),
        click(1, gclid="not a gclid!"),
        click(2, conversion_action=9999),
        click(3),
        {"conversion_action": 1001, "conversion_date_time": "yesterday", "gclid": "Cj0KCQiA9"},
    ]
    async with g.open() as ctx:
        result = await connector.call("upload_click_conversions", records, ctx)
    outcome = [r.ok for r in result.records]
    assert outcome == [True, False, False, True, False]
    errors = {r.index: r for r in result.records if isinstance(r, RecordError)}
    assert errors[1].code == "conversionUploadError.UNPARSEABLE_GCLID"
    assert errors[2].code == "conversionUploadError.INVALID_CONVERSION_ACTION"
    assert errors[4].code == "invalid_input"  # caught before sending
    assert len(g.sandbox.conversions) == 2
    assert calls(g.sandbox, "POST", "/v22/customers") == 1


async def test_resource_exhausted_waits_the_retry_delay_google_gives(
    google_ads: Start, clock: RecordingClock
) -> None:
    g = google_ads(retry_delay_seconds=7)
    g.sandbox.fail_next(1, 429, path="/v22/customers")
    async with g.open() as ctx:
        result = await connector.call("upload_click_conversions", [click(1)], ctx)
    assert result.ok
    assert clock.sleeps == [7.0]
    assert calls(g.sandbox, "POST", "/v22/customers") == 2


async def test_a_static_access_token_and_a_429_with_retry_after(
    google_ads: Start, clock: RecordingClock
) -> None:
    g = google_ads(access_tokens=("static-token",))
    g.sandbox.fail_next(1, 429, body={"error": {"code": 429}}, headers={"Retry-After": "3"})
    async with g.open({"refresh_token": "", "access_token": "static-token"}) as ctx:
        assert (await connector.call("upload_click_conversions", [click(1)], ctx)).ok
    assert clock.sleeps == [3.0]
    assert g.sandbox.counters.tokens_issued == 0


async def test_the_daily_operation_quota_answers_resource_exhausted(google_ads: Start) -> None:
    g = google_ads(daily_operations=1, retry_delay_seconds=600)
    async with g.open() as ctx:
        assert (await connector.call("upload_click_conversions", [click(1)], ctx)).ok
        with pytest.raises(Exception) as raised:
            await connector.call("upload_click_conversions", [click(2)], ctx)
    assert getattr(raised.value, "retry_after", None) == 600.0
    assert [v.kind for v in g.sandbox.violations] == ["daily_quota"]


async def test_an_expired_access_token_is_refreshed_once(
    google_ads: Start, clock: RecordingClock
) -> None:
    g = google_ads(token_lifetime_seconds=100)
    async with g.open() as ctx:
        assert (await connector.call("upload_click_conversions", [click(1)], ctx)).ok
        clock.advance(60)  # the connector renews early; the sandbox's token would still live
        assert (await connector.call("upload_click_conversions", [click(2)], ctx)).ok
        assert g.sandbox.counters.tokens_issued == 2
        g.sandbox.oauth.forget_access_tokens()  # 401: refresh, retry
        assert (await connector.call("upload_click_conversions", [click(3)], ctx)).ok
    assert g.sandbox.counters.tokens_issued == 3
    assert len(g.sandbox.conversions) == 3


async def test_refused_credentials_are_configuration_errors_without_secrets(
    google_ads: Start,
) -> None:
    g = google_ads()
    async with g.open({"developer_token": "wrong-dev-token"}) as ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("upload_click_conversions", [click(1)], ctx)
    assert "wrong-dev-token" not in str(raised.value)
    async with g.open({"refresh_token": "revoked"}) as ctx:
        with pytest.raises(ConfigurationError, match="invalid_grant"):
            await connector.call("upload_click_conversions", [click(1)], ctx)
    assert g.sandbox.conversions == []


async def test_customer_match_adds_and_removes_hashed_members_through_jobs(
    google_ads: Start,
) -> None:
    g = google_ads()
    members = [
        {"user_list": 2001, "email": "Jane.Doe@gmail.com"},
        {"user_list": "2001", "phone": "+1 650 555 1212"},
        {"user_list": 2002, "email": "ann@example.com", "phone": "+442070313000"},
    ]
    async with g.open() as ctx:
        added = await connector.call("add_customer_match_members", members, ctx)
        assert added.ok and added.data == {"jobs": 2}
        assert g.sandbox.list_members("2001") == {JANEDOE_AT_GMAIL, PLUS_16505551212}
        assert len(g.sandbox.list_members("2002")) == 2
        removed = await connector.call("remove_customer_match_members", [members[0]], ctx)
    assert removed.ok
    assert g.sandbox.list_members("2001") == {PLUS_16505551212}
    assert {job.status for job in g.sandbox.jobs.values()} == {"SUCCESS"}
    paths = [c.path.rsplit(":", 1)[-1] for c in g.sandbox.requests if ":" in c.path]
    assert paths.count("create") == 3 and paths.count("run") == 3


async def test_customer_match_reports_a_bad_member_and_keeps_the_others(google_ads: Start) -> None:
    g = google_ads()
    members = [
        {"user_list": 2001, "email": "ok@example.com"},
        {"user_list": 2001, "email": "not an address"},
        {"user_list": 7777, "email": "lost@example.com"},
    ]
    async with g.open() as ctx:
        result = await connector.call("add_customer_match_members", members, ctx)
    assert [r.ok for r in result.records] == [True, False, False]
    assert result.records[1].code == "invalid_input"  # type: ignore[union-attr]
    assert "INVALID_USER_LIST_ID" in result.records[2].message  # type: ignore[union-attr]
    assert len(g.sandbox.list_members("2001")) == 1


async def test_the_sandbox_reports_unhashed_identifiers_per_operation(google_ads: Start) -> None:
    g = google_ads()
    async with g.open() as ctx:
        created = await ctx.http.request(
            "POST",
            f"/customers/{DEFAULT_CUSTOMER_ID}/offlineUserDataJobs:create",
            operation="raw",
            json={
                "job": {
                    "type": "CUSTOMER_MATCH_USER_LIST",
                    "customerMatchUserListMetadata": {
                        "userList": f"customers/{DEFAULT_CUSTOMER_ID}/userLists/2001"
                    },
                }
            },
        )
        job = created.json()["resourceName"]
        answer = await ctx.http.request(
            "POST",
            f"/{job}:addOperations",
            operation="raw",
            json={
                "enablePartialFailure": True,
                "operations": [
                    {"create": {"userIdentifiers": [{"hashedEmail": JANEDOE_AT_GMAIL}]}},
                    {"create": {"userIdentifiers": [{"hashedEmail": "jane@example.com"}]}},
                ],
            },
        )
    [error] = answer.json()["partialFailureError"]["details"][0]["errors"]
    assert error["location"]["fieldPathElements"] == [{"fieldName": "operations", "index": 1}]
    assert error["errorCode"] == {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"}


async def test_test_call_lists_the_accessible_customers(google_ads: Start) -> None:
    g = google_ads()
    async with g.open() as ctx:
        details = await connector.test_call(ctx)
    assert details == {
        "customer_id": DEFAULT_CUSTOMER_ID,
        "accessible": True,
        "accessible_customers": 1,
    }
    assert g.sandbox.conversions == []


async def test_national_phone_numbers_take_the_connections_country_code(
    google_ads: Start,
) -> None:
    g = google_ads()
    member = {"user_list": 2001, "phone": "090-1234-5678"}
    async with g.open() as ctx:
        refused = await connector.call("add_customer_match_members", [member], ctx)
        assert refused.records[0].code == "invalid_input"  # type: ignore[union-attr]
    async with g.open(default_phone_country_code="81") as ctx:
        assert (await connector.call("add_customer_match_members", [member], ctx)).ok
    # printf %s +819012345678 | sha256sum
    assert g.sandbox.list_members("2001") == {PLUS_819012345678}


async def test_consent_settings_go_with_conversions_and_customer_match_jobs(
    google_ads: Start,
) -> None:
    g = google_ads()
    async with g.open(consent_ad_user_data="granted", consent_ad_personalization="DENIED") as ctx:
        assert (await connector.call("upload_click_conversions", [click(1)], ctx)).ok
        member = {"user_list": 2001, "email": "ann@example.com"}
        assert (await connector.call("add_customer_match_members", [member], ctx)).ok
    assert g.sandbox.conversions[0]["consent"] == {"adUserData": "GRANTED"}
    [job] = g.sandbox.jobs.values()
    assert job.consent == {"adUserData": "GRANTED", "adPersonalization": "DENIED"}
    async with g.open(consent_ad_user_data="maybe") as ctx:
        with pytest.raises(ConfigurationError, match="GRANTED or DENIED"):
            await connector.call("upload_click_conversions", [click(2)], ctx)
    assert len(g.sandbox.conversions) == 1


async def test_a_list_that_keeps_failing_leaves_the_lists_already_sent_alone(
    google_ads: Start,
) -> None:
    g = google_ads()
    # The second job (id 2) never takes operations: Google keeps answering 503.
    g.sandbox.fail_next(
        10, 503, path=f"/v22/customers/{DEFAULT_CUSTOMER_ID}/offlineUserDataJobs/2:"
    )
    members = [
        {"user_list": 2001, "email": "one@example.com"},
        {"user_list": 2002, "email": "two@example.com"},
    ]
    async with g.open() as ctx:
        result = await connector.call("add_customer_match_members", members, ctx)
    first, second = result.records
    assert first.ok and len(g.sandbox.list_members("2001")) == 1
    assert isinstance(second, RecordError) and second.retryable and second.code == "503"
    assert g.sandbox.list_members("2002") == set()


async def test_a_revoked_grant_is_a_configuration_error(google_ads: Start) -> None:
    g = google_ads()
    async with g.open() as ctx:
        assert (await connector.call("upload_click_conversions", [click(1)], ctx)).ok
        g.sandbox.oauth.revoke(DEFAULT_REFRESH_TOKEN)  # the user removed the app's access
        with pytest.raises(ConfigurationError, match="invalid_grant"):
            await connector.call("upload_click_conversions", [click(2)], ctx)
    assert len(g.sandbox.conversions) == 1
