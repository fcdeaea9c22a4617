"""The Google Ads, Meta and LinkedIn conversion sandboxes through plain HTTP on loopback:
what each vendor refuses, answered the way it documents, whatever the client."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from renkei.clock import ManualClock
from renkei.sandbox.google_ads import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_CUSTOMER_ID,
    DEFAULT_DEVELOPER_TOKEN,
    DEFAULT_REFRESH_TOKEN,
    GoogleAdsSandbox,
    GoogleAdsSandboxConfig,
)
from renkei.sandbox.linkedin_capi import (
    DEFAULT_ACCESS_TOKEN as LINKEDIN_TOKEN,
)
from renkei.sandbox.linkedin_capi import (
    DEFAULT_CLIENT_ID as LINKEDIN_CLIENT_ID,
)
from renkei.sandbox.linkedin_capi import (
    DEFAULT_CLIENT_SECRET as LINKEDIN_CLIENT_SECRET,
)
from renkei.sandbox.linkedin_capi import (
    LinkedInCapiSandbox,
    LinkedInCapiSandboxConfig,
)
from renkei.sandbox.meta_capi import (
    DEFAULT_ACCESS_TOKEN as META_TOKEN,
)
from renkei.sandbox.meta_capi import (
    DEFAULT_PIXEL_ID,
    MetaCapiSandbox,
    MetaCapiSandboxConfig,
)

from .vendor_clients import client_for

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
HASH = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


# --- Google Ads -----------------------------------------------------------------------


def _google(
    stack: contextlib.ExitStack, clock: ManualClock
) -> tuple[GoogleAdsSandbox, httpx.Client]:
    sandbox, http, _ = client_for(stack, GoogleAdsSandbox(GoogleAdsSandboxConfig(), clock))
    return sandbox, http


def _token(http: httpx.Client, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "refresh_token": DEFAULT_REFRESH_TOKEN,
        **overrides,
    }
    return http.post("/token", data=form)


def test_google_issues_tokens_for_a_known_client_and_refresh_token(
    exit_stack: contextlib.ExitStack, clock: ManualClock
) -> None:
    _, http = _google(exit_stack, clock)
    assert _token(http, client_secret="nope").json() == {"error": "invalid_client"}
    assert _token(http, refresh_token="revoked").json()["error"] == "invalid_grant"
    assert _token(http, grant_type="password").json() == {"error": "unsupported_grant_type"}
    answer = _token(http).json()
    assert answer["expires_in"] == 3599 and answer["token_type"] == "Bearer"


def test_google_checks_token_developer_token_and_customer(
    exit_stack: contextlib.ExitStack, clock: ManualClock
) -> None:
    _, http = _google(exit_stack, clock)
    token = _token(http).json()["access_token"]
    path = f"/v22/customers/{DEFAULT_CUSTOMER_ID}:uploadClickConversions"
    body = {"conversions": [{}], "partialFailure": True}
    assert http.post(path, json=body).json()["error"]["status"] == "UNAUTHENTICATED"
    headers = {"Authorization": f"Bearer {token}"}
    assert http.post(path, json=body, headers=headers).status_code == 401  # no developer token
    headers["developer-token"] = DEFAULT_DEVELOPER_TOKEN
    other = http.post("/v22/customers/555:uploadClickConversions", json=body, headers=headers)
    assert other.status_code == 403
    assert other.json()["error"]["status"] == "PERMISSION_DENIED"
    no_partial = http.post(path, json={"conversions": [{}]}, headers=headers)
    assert no_partial.status_code == 400 and "partial_failure" in no_partial.text
    clock.advance(3600)  # the access token expired
    assert http.post(path, json=body, headers=headers).status_code == 401


def test_google_partial_failure_points_at_each_bad_conversion(
    exit_stack: contextlib.ExitStack, clock: ManualClock
) -> None:
    sandbox, http = _google(exit_stack, clock)
    token = _token(http).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "developer-token": DEFAULT_DEVELOPER_TOKEN}
    action = f"customers/{DEFAULT_CUSTOMER_ID}/conversionActions/1001"

    def conversion(**extra: Any) -> dict[str, Any]:
        return {
            "conversionAction": action,
            "conversionDateTime": "2026-03-02 10:00:00-05:00",
            **extra,
        }

    body = {
        "partialFailure": True,
        "conversions": [
            conversion(gclid="Cj0KCQiAgood1"),
            conversion(userIdentifiers=[{"hashedEmail": "jane@example.com"}]),  # not hashed
            conversion(),  # no click id, no identifiers
            conversion(gclid="Cj0KCQiAgood1"),  # the same conversion twice
            conversion(userIdentifiers=[{"hashedEmail": HASH}], orderId="lead-1"),
        ],
    }
    answer = http.post(
        f"/v22/customers/{DEFAULT_CUSTOMER_ID}:uploadClickConversions", json=body, headers=headers
    ).json()
    assert [bool(r) for r in answer["results"]] == [True, False, False, False, True]
    errors = answer["partialFailureError"]["details"][0]["errors"]
    assert [e["location"]["fieldPathElements"][0]["index"] for e in errors] == [1, 2, 3]
    assert errors[2]["errorCode"] == {
        "conversionUploadError": "DUPLICATE_CLICK_CONVERSION_IN_REQUEST"
    }
    assert len(sandbox.conversions) == 2


# --- Meta -------------------------------------------------------------------------------


def _meta(stack: contextlib.ExitStack, clock: ManualClock) -> tuple[MetaCapiSandbox, httpx.Client]:
    sandbox, http, _ = client_for(stack, MetaCapiSandbox(MetaCapiSandboxConfig(), clock))
    return sandbox, http


def _event(**extra: Any) -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": int(NOW.timestamp()) - 60,
        "action_source": "website",
        "user_data": {"em": [HASH]},
        "custom_data": {"value": 5, "currency": "USD"},
        **extra,
    }


@pytest.mark.parametrize(
    ("event", "subcode"),
    [
        (_event(user_data={"em": ["test@example.com"]}), 2804019),  # em must be hashed
        (_event(user_data={"ph": HASH.upper()}), 2804019),  # lowercase hex only
        (_event(custom_data={}), 2804020),  # a Purchase needs value and currency
        (_event(action_source="billboard"), 2804006),
        (_event(event_time=int(NOW.timestamp()) - 8 * 86400), 2804004),
        (_event(event_time=str(int(NOW.timestamp()))), 2804003),
        (_event(user_data={}), 2804007),
    ],
)
def test_meta_rejects_the_whole_request_for_one_invalid_event(
    exit_stack: contextlib.ExitStack, clock: ManualClock, event: dict[str, Any], subcode: int
) -> None:
    sandbox, http = _meta(exit_stack, clock)
    response = http.post(
        f"/v24.0/{DEFAULT_PIXEL_ID}/events",
        params={"access_token": META_TOKEN},
        json={"data": [_event(), event]},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, subcode)
    assert "(event 1)" in error["error_user_msg"]
    assert sandbox.events == []  # nothing kept, the valid event included


def test_meta_takes_the_token_in_the_query_body_or_header(
    exit_stack: contextlib.ExitStack, clock: ManualClock
) -> None:
    sandbox, http = _meta(exit_stack, clock)
    path = f"/v24.0/{DEFAULT_PIXEL_ID}/events"
    refused = http.post(path, json={"data": [_event()]})
    assert refused.json()["error"]["code"] == 190
    assert http.post(path, json={"data": [_event()], "access_token": META_TOKEN}).is_success
    answer = http.post(
        path,
        json={"data": [_event(), _event()], "test_event_code": "TEST1"},
        headers={"Authorization": f"Bearer {META_TOKEN}"},
    ).json()
    assert answer["events_received"] == 2 and answer["fbtrace_id"]
    assert len(sandbox.events) == 1 and len(sandbox.test_events["TEST1"]) == 2


# --- LinkedIn ---------------------------------------------------------------------------


def _linkedin(
    stack: contextlib.ExitStack, clock: ManualClock
) -> tuple[LinkedInCapiSandbox, httpx.Client]:
    sandbox, http, _ = client_for(
        stack,
        LinkedInCapiSandbox(LinkedInCapiSandboxConfig(), clock),
        headers={
            "Authorization": f"Bearer {LINKEDIN_TOKEN}",
            "LinkedIn-Version": "202611",
            "X-Restli-Protocol-Version": "2.0.0",
        },
    )
    return sandbox, http


def _conversion(**extra: Any) -> dict[str, Any]:
    return {
        "conversion": "urn:lla:llaPartnerConversion:104012",
        "conversionHappenedAt": int(NOW.timestamp() * 1000) - 1000,
        "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": HASH}]},
        **extra,
    }


def test_linkedin_requires_its_headers(
    exit_stack: contextlib.ExitStack, clock: ManualClock
) -> None:
    sandbox, http = _linkedin(exit_stack, clock)
    for header in ("LinkedIn-Version", "X-Restli-Protocol-Version"):
        response = http.post("/rest/conversionEvents", json=_conversion(), headers={header: ""})
        assert response.status_code == 400
    assert (
        http.post(
            "/rest/conversionEvents", json=_conversion(), headers={"Authorization": ""}
        ).status_code
        == 401
    )
    created = http.post("/rest/conversionEvents", json=_conversion())
    assert created.status_code == 201 and created.headers["x-restli-id"] == "1"
    assert len(sandbox.events) == 1


def test_linkedin_batch_create_answers_a_status_per_element(
    exit_stack: contextlib.ExitStack, clock: ManualClock
) -> None:
    sandbox, http = _linkedin(exit_stack, clock)
    elements = [
        _conversion(),
        _conversion(user={"userInfo": {"firstName": "mike"}}),  # userIds always required
        _conversion(user={"userIds": [], "userInfo": {"firstName": "mike"}}),  # no last name
        _conversion(conversionValue={"currencyCode": "USD", "amount": 50}),  # not a string
        _conversion(user={"userIds": [{"idType": "SHA256_EMAIL", "idValue": "a@b.co"}]}),
        _conversion(user={"userIds": [], "userInfo": {"firstName": "mike", "lastName": "s"}}),
    ]
    response = http.post(
        "/rest/conversionEvents",
        json={"elements": elements},
        headers={"X-RestLi-Method": "BATCH_CREATE"},
    )
    statuses = [e["status"] for e in response.json()["elements"]]
    assert statuses == [201, 422, 422, 400, 400, 201]
    assert len(sandbox.events) == 2


def test_google_oauth_consent_code_pkce_refresh_and_revoke(
    exit_stack: contextlib.ExitStack, clock: ManualClock
) -> None:
    sandbox, http = _google(exit_stack, clock)
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    consent = http.get(
        "/o/oauth2/v2/auth",
        params={
            "client_id": DEFAULT_CLIENT_ID,
            "redirect_uri": "http://127.0.0.1:8787/oauth/callback",
            "response_type": "code",
            "scope": "https://www.googleapis.com/auth/adwords",
            "state": "st-1",
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "access_type": "offline",
        },
    )
    assert consent.status_code == 302
    location = httpx.URL(consent.headers["location"])
    assert location.path == "/oauth/callback" and location.params["state"] == "st-1"
    code = location.params["code"]

    def exchange(**overrides: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:8787/oauth/callback",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "code_verifier": verifier,
            **overrides,
        }
        return http.post("/token", data=form)

    assert exchange(code_verifier="w" * 50).json()["error"] == "invalid_grant"  # PKCE
    # A failed exchange spent the code too (a code works once).
    assert exchange().json()["error"] == "invalid_grant"
    consent = http.get(consent.request.url)
    code = httpx.URL(consent.headers["location"]).params["code"]
    tokens = exchange().json()
    assert tokens["refresh_token"] and tokens["access_token"].startswith("ya29.")
    assert exchange().json()["error"] == "invalid_grant"  # replayed

    refreshed = _token(http, refresh_token=tokens["refresh_token"]).json()
    headers = {
        "Authorization": f"Bearer {refreshed['access_token']}",
        "developer-token": DEFAULT_DEVELOPER_TOKEN,
    }
    assert http.get("/v22/customers:listAccessibleCustomers", headers=headers).status_code == 200
    assert http.post("/revoke", data={"token": tokens["refresh_token"]}).status_code == 200
    assert http.get("/v22/customers:listAccessibleCustomers", headers=headers).status_code == 401
    assert _token(http, refresh_token=tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert http.post("/revoke", data={"token": "unknown"}).status_code == 400
    assert sandbox.counters.tokens_issued == 2  # the exchange and the refresh


def test_linkedin_oauth_consent_code_and_revoke(
    exit_stack: contextlib.ExitStack, clock: ManualClock
) -> None:
    sandbox, http = _linkedin(exit_stack, clock)
    consent = http.get(
        "/oauth/v2/authorization",
        params={
            "response_type": "code",
            "client_id": LINKEDIN_CLIENT_ID,
            "redirect_uri": "https://hub.example.com/oauth/callback",
            "state": "s-9",
            "scope": "rw_conversions r_ads",
        },
        headers={"Authorization": ""},
    )
    location = httpx.URL(consent.headers["location"])
    assert location.params["state"] == "s-9"
    form = {
        "grant_type": "authorization_code",
        "code": location.params["code"],
        "redirect_uri": "https://hub.example.com/oauth/callback",
        "client_id": LINKEDIN_CLIENT_ID,
        "client_secret": LINKEDIN_CLIENT_SECRET,
    }
    tokens = http.post("/oauth/v2/accessToken", data=form, headers={"Authorization": ""}).json()
    assert tokens["expires_in"] == 60 * 86400
    member = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (
        http.post("/rest/conversionEvents", json=_conversion(), headers=member).status_code == 201
    )
    clock.advance(60 * 86400)  # the member token's 60 days are over
    assert (
        http.post("/rest/conversionEvents", json=_conversion(), headers=member).status_code == 401
    )
    revoke = {"token": tokens["refresh_token"]}
    assert http.post("/oauth/v2/revoke", data=revoke, headers={"Authorization": ""}).is_success
    assert len(sandbox.events) == 1
