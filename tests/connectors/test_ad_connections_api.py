"""Google Ads, Meta and LinkedIn connections through ``/api/v1/connections`` over real HTTP,
a worker in the server and the sandboxes on loopback, on SQLite and PostgreSQL: the OAuth
and access tokens stored encrypted and never shown, Test connection, records submitted and
sent in vendor batches, and bad settings answered as JSON errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from renkei.sandbox import create_sandbox, serve_in_thread
from renkei.sandbox.google_ads import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_DEVELOPER_TOKEN,
    DEFAULT_REFRESH_TOKEN,
    GoogleAdsSandbox,
)
from renkei.sandbox.linkedin_capi import DEFAULT_ACCESS_TOKEN as LINKEDIN_TOKEN
from renkei.sandbox.linkedin_capi import DEFAULT_AD_ACCOUNT, LinkedInCapiSandbox
from renkei.sandbox.meta_capi import DEFAULT_ACCESS_TOKEN as META_TOKEN
from renkei.sandbox.meta_capi import DEFAULT_PIXEL_ID, MetaCapiSandbox
from renkei.store import Database
from tests.support.rawscan import assert_not_stored
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(120)
SECRETS = (DEFAULT_DEVELOPER_TOKEN, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, META_TOKEN)


@pytest.fixture
def api(database_url: str) -> Iterator[httpx.Client]:
    with (
        running_hub(database_url, connector_batch_wait_seconds=0.1) as (base_url, _),
        admin_client(base_url) as client,
    ):
        yield client


@pytest.fixture
def google() -> Iterator[tuple[GoogleAdsSandbox, str]]:
    sandbox = create_sandbox("google_ads")
    assert isinstance(sandbox, GoogleAdsSandbox)
    with serve_in_thread(sandbox.app) as url:
        yield sandbox, url


def _google(url: str, **credentials: str) -> dict[str, Any]:
    return {
        "name": "google-ads",
        "connector": "google_ads",
        "config": {"customer_id": "123-456-7890", "base_url": url, "token_url": f"{url}/token"},
        "credentials": {
            "developer_token": DEFAULT_DEVELOPER_TOKEN,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": DEFAULT_REFRESH_TOKEN,
            **credentials,
        },
    }


def _wait_done(api: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.get(path).json()
        if body["done"]:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} did not finish")


async def test_google_ads_over_the_api_with_encrypted_oauth_credentials(
    api: httpx.Client, database: Database, google: tuple[GoogleAdsSandbox, str]
) -> None:
    sandbox, url = google
    created = api.post("/api/v1/connections", json=_google(url))
    assert created.status_code == 201, created.text
    assert sorted(created.json()["credentials_set"]) == [
        "client_id",
        "client_secret",
        "developer_token",
        "refresh_token",
    ]
    tested = api.post("/api/v1/connections/google-ads/test").json()
    assert tested["ok"] is True and tested["details"]["accessible"] is True

    conversions = [
        {
            "gclid": f"Cj0KCQiAapi{n:04d}",
            "conversion_action": 1001,
            "conversion_date_time": "2026-03-02T15:00:00+01:00",
            "email": f"buyer{n}@example.com",
        }
        for n in range(5)
    ]
    conversions.append({**conversions[0], "gclid": "bad gclid!", "order_id": "x"})
    submitted = api.post(
        "/api/v1/connections/google-ads/submissions",
        json={"operation": "upload_click_conversions", "records": conversions},
    )
    assert submitted.status_code == 202, submitted.text
    outcome = _wait_done(
        api, f"/api/v1/connections/google-ads/submissions/{submitted.json()['id']}"
    )
    assert outcome["counts"]["ok"] == 5
    assert outcome["records"][5]["error"]["code"] == "conversionUploadError.UNPARSEABLE_GCLID"
    assert len(sandbox.conversions) == 5
    assert sum(1 for c in sandbox.requests if c.path.endswith(":uploadClickConversions")) == 1

    for text in (created.text, api.get("/api/v1/connections").text, str(tested)):
        assert not any(secret in text for secret in SECRETS)
    await assert_not_stored(database, DEFAULT_REFRESH_TOKEN, DEFAULT_DEVELOPER_TOKEN)


def test_meta_and_linkedin_connections_test_and_send(api: httpx.Client) -> None:
    meta = create_sandbox("meta_capi")
    linkedin = create_sandbox("linkedin_capi")
    assert isinstance(meta, MetaCapiSandbox) and isinstance(linkedin, LinkedInCapiSandbox)
    with serve_in_thread(meta.app) as meta_url, serve_in_thread(linkedin.app) as linkedin_url:
        for body in (
            {
                "name": "meta",
                "connector": "meta_capi",
                "config": {"pixel_id": DEFAULT_PIXEL_ID, "base_url": meta_url},
                "credentials": {"access_token": META_TOKEN},
            },
            {
                "name": "linkedin",
                "connector": "linkedin_capi",
                "config": {"ad_account_id": DEFAULT_AD_ACCOUNT, "base_url": f"{linkedin_url}/rest"},
                "credentials": {"access_token": LINKEDIN_TOKEN},
            },
        ):
            assert api.post("/api/v1/connections", json=body).status_code == 201
            assert api.post(f"/api/v1/connections/{body['name']}/test").json()["ok"] is True
        now = int(time.time())
        meta_sub = api.post(
            "/api/v1/connections/meta/submissions",
            json={
                "operation": "send_events",
                "records": [
                    {
                        "event_name": "Lead",
                        "event_time": now,
                        "event_id": f"lead-{n}",
                        "action_source": "system_generated",
                        "user_data": {"em": f"lead{n}@example.com"},
                    }
                    for n in range(3)
                ],
            },
        ).json()
        linkedin_sub = api.post(
            "/api/v1/connections/linkedin/submissions",
            json={
                "operation": "send_conversion_events",
                "records": [
                    {"conversion": 104012, "conversionHappenedAt": now * 1000, "email": "a@b.co"}
                ],
            },
        ).json()
        for name, sub in (("meta", meta_sub), ("linkedin", linkedin_sub)):
            done = _wait_done(api, f"/api/v1/connections/{name}/submissions/{sub['id']}")
            assert done["counts"]["error"] == 0, done
    assert len(meta.events) == 3 and meta.event_requests == 1
    [event] = linkedin.events
    assert len(event["eventId"]) == 36  # filled in at submission, so a resend deduplicates


def test_bad_ad_connection_settings_are_json_errors(
    api: httpx.Client, google: tuple[GoogleAdsSandbox, str]
) -> None:
    _, url = google
    missing = _google(url)
    del missing["credentials"]["developer_token"]
    answer = api.post("/api/v1/connections", json=missing)
    assert answer.status_code == 422
    assert "developer_token" in answer.json()["error"]["message"]
    bad_url = _google(url)
    bad_url["config"]["token_url"] = "not a url"
    answer = api.post("/api/v1/connections", json=bad_url)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_url"
    assert api.get("/api/v1/connections").json()["data"] == []

    # Settings only a call can judge: the test answers ok=false, a clear message, no 500.
    no_token = _google(url, refresh_token="")
    assert api.post("/api/v1/connections", json=no_token).status_code == 201
    tested = api.post("/api/v1/connections/google-ads/test")
    assert tested.status_code == 200
    assert tested.json()["ok"] is False
    assert "refresh_token" in tested.json()["error"]["message"]
    api.patch(
        "/api/v1/connections/google-ads",
        json={
            "credentials": {"refresh_token": DEFAULT_REFRESH_TOKEN},
            "config": {
                "customer_id": "not-a-customer",
                "base_url": url,
                "token_url": f"{url}/token",
            },
        },
    )
    tested = api.post("/api/v1/connections/google-ads/test")
    assert tested.status_code == 200 and tested.json()["ok"] is False
    assert "customer id" in tested.json()["error"]["message"]
