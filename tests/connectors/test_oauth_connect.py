"""OAuth connect end to end over real HTTP, on SQLite and PostgreSQL: a HubSpot connection
with only its OAuth app's client id and secret is connected through the sandbox's consent
page and ``/oauth/callback``, calls HubSpot with the token it got, refreshes it when the
vendor stops taking it, and turns ``needs_reauth`` (with an alert and a
``connection.needs_reauth`` event) once the grant is revoked; connecting again clears it.
Google Ads goes through the same flow with PKCE, LinkedIn with its refresh token, Meta
with its exchange for a long-lived token."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from renkei.sandbox import create_sandbox, serve_in_thread
from renkei.sandbox.google_ads import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_DEVELOPER_TOKEN,
    GoogleAdsSandbox,
)
from renkei.sandbox.hubspot import HubSpotSandbox
from renkei.sandbox.hubspot.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET
from renkei.sandbox.linkedin_capi import DEFAULT_AD_ACCOUNT, LinkedInCapiSandbox
from renkei.sandbox.linkedin_capi import DEFAULT_CLIENT_ID as LINKEDIN_CLIENT_ID
from renkei.sandbox.linkedin_capi import DEFAULT_CLIENT_SECRET as LINKEDIN_CLIENT_SECRET
from renkei.sandbox.meta_capi import (
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_PIXEL_ID,
    MetaCapiSandbox,
)
from renkei.store import Database
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.rawscan import assert_not_stored
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(120)
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module", params=BACKENDS)
def hub_api(
    request: pytest.FixtureRequest, database_factory: DatabaseFactory
) -> Iterator[tuple[httpx.Client, str, str]]:
    """One hub per module and backend: each test connects under names of its own."""
    database_url = database_factory.new_url(request.param)
    with running_hub(database_url) as (base_url, _), admin_client(base_url) as client:
        yield client, base_url, database_url


@contextlib.contextmanager
def served(name: str) -> Iterator[tuple[Any, str]]:
    """The vendor's sandbox on loopback: ``(sandbox, base_url)``."""
    sandbox = create_sandbox(name)
    with serve_in_thread(sandbox.app) as url:
        yield sandbox, url


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotSandbox, str]]:
    with served("hubspot") as (sandbox, url):
        assert isinstance(sandbox, HubSpotSandbox)
        yield sandbox, url


def _hubspot_connection(url: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "connector": "hubspot",
        "config": {
            "base_url": url,
            "oauth_authorize_url": f"{url}/oauth/authorize",
            "oauth_token_url": f"{url}/oauth/v1/token",
        },
        "credentials": {
            "client_id": DEFAULT_OAUTH_CLIENT_ID,
            "client_secret": DEFAULT_OAUTH_CLIENT_SECRET,
        },
    }


def _create(api: httpx.Client, connection: dict[str, Any]) -> None:
    created = api.post("/api/v1/connections", json=connection)
    assert created.status_code == 201, created.text


def _state(api: httpx.Client, ref: str) -> str:
    """A new connect's ``state``, as the consent page would send it back."""
    start = api.post(f"/api/v1/connections/{ref}/oauth/start").json()
    return parse_qs(urlsplit(start["authorize_url"]).query)["state"][0]


def _connect(api: httpx.Client, ref: str, **body: Any) -> tuple[dict[str, Any], httpx.Response]:
    """Start, follow the consent page's redirect as a browser would, answer the callback."""
    started = api.post(f"/api/v1/connections/{ref}/oauth/start", json=body or None)
    assert started.status_code == 200, started.text
    start = started.json()
    consent = httpx.get(start["authorize_url"], follow_redirects=False)
    assert consent.status_code == 302, consent.text
    back = consent.headers["location"]
    assert back.startswith(start["redirect_uri"] + "?")
    return start, api.get(back, headers=JSON)


async def test_connect_call_refresh_revoke_and_reconnect(
    hub_api: tuple[httpx.Client, str, str], hubspot: tuple[HubSpotSandbox, str]
) -> None:
    api, base_url, database_url = hub_api
    sandbox, url = hubspot
    _create(api, _hubspot_connection(url, "hubspot-oauth"))
    not_yet = api.post("/api/v1/connections/hubspot-oauth/test").json()
    assert not_yet["ok"] is False and not_yet["error"]["code"] == "not_connected"

    start, callback = _connect(api, "hubspot-oauth")
    assert start["redirect_uri"] == f"{base_url}/oauth/callback"
    query = parse_qs(urlsplit(start["authorize_url"]).query)
    assert query["client_id"] == [DEFAULT_OAUTH_CLIENT_ID]
    assert "crm.objects.contacts.write" in query["scope"][0].split(" ")
    assert "code_challenge" not in query  # HubSpot documents no PKCE
    assert callback.status_code == 200, callback.text
    assert callback.json()["status"] == "active"
    listed = api.get("/api/v1/connections/hubspot-oauth").json()
    assert {"access_token", "refresh_token", "access_token_expires_at"} <= set(
        listed["credentials_set"]
    )

    # A real call with the token Connect got: no refresh needed yet.
    tested = api.post("/api/v1/connections/hubspot-oauth/test").json()
    assert tested["ok"] is True, tested
    assert sandbox.oauth.issued == 1

    # The vendor stops taking the access token: the call refreshes it and goes through.
    sandbox.oauth.forget_access_tokens()
    tested = api.post("/api/v1/connections/hubspot-oauth/test").json()
    assert tested["ok"] is True, tested
    assert sandbox.oauth.issued == 2

    # The user revokes the app: the refresh answers invalid_grant.
    for token in list(sandbox.oauth.refresh_tokens):
        assert sandbox.oauth.revoke(token).status_code == 200
    for _ in range(2):  # a second failure opens no second event
        tested = api.post("/api/v1/connections/hubspot-oauth/test").json()
        assert tested["ok"] is False
        assert tested["error"] == {
            "kind": "GrantRevoked",
            "code": "invalid_grant",
            "message": tested["error"]["message"],
        }
    row = api.get("/api/v1/connections/hubspot-oauth").json()
    assert row["status"] == "needs_reauth"
    events = api.get("/api/v1/events", params={"type": "connection.needs_reauth"}).json()
    assert [e["data"]["connection_id"] for e in events["data"]] == [row["id"]]
    assert events["data"][0]["data"]["connector"] == "hubspot"
    alerts = api.get("/api/v1/alerts", params={"kind": "connection_needs_reauth"}).json()
    assert [(a["subject_id"], a["status"]) for a in alerts["data"]] == [(row["id"], "open")]

    # Connecting again: active, the alert resolved, calls work.
    _, callback = _connect(api, "hubspot-oauth")
    assert callback.json()["status"] == "active"
    alerts = api.get("/api/v1/alerts", params={"kind": "connection_needs_reauth"}).json()
    assert [a["status"] for a in alerts["data"]] == ["resolved"]
    assert api.post("/api/v1/connections/hubspot-oauth/test").json()["ok"] is True

    # No token or client secret anywhere but sealed.
    secrets = [DEFAULT_OAUTH_CLIENT_SECRET, *sandbox.oauth.refresh_tokens]
    for text in (api.get("/api/v1/connections").text, api.get("/api/v1/audit").text):
        assert not any(secret in text for secret in secrets)
    database = Database(database_url)
    try:
        await assert_not_stored(database, *secrets)
    finally:
        await database.dispose()


def test_callback_redirects_a_browser_to_the_dashboard(
    hub_api: tuple[httpx.Client, str, str], hubspot: tuple[HubSpotSandbox, str]
) -> None:
    api, _, _ = hub_api
    _, url = hubspot
    _create(api, _hubspot_connection(url, "hubspot-browser"))
    start = api.post("/api/v1/connections/hubspot-browser/oauth/start").json()
    back = httpx.get(start["authorize_url"]).headers["location"]
    page = httpx.get(back, headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/ui/connections?notice=connected")


def test_state_is_single_use_and_refusals_are_400(
    hub_api: tuple[httpx.Client, str, str], hubspot: tuple[HubSpotSandbox, str]
) -> None:
    api, _, _ = hub_api
    _, url = hubspot
    _create(api, _hubspot_connection(url, "hubspot-state"))
    start = api.post("/api/v1/connections/hubspot-state/oauth/start").json()
    back = httpx.get(start["authorize_url"]).headers["location"]
    assert api.get(back, headers=JSON).status_code == 200
    again = api.get(back, headers=JSON)
    assert again.status_code == 400 and again.json()["error"]["code"] == "oauth_state_used"
    page = httpx.get(back, headers={"Accept": "text/html"})
    assert page.status_code == 400 and "already used" in page.text

    # The user says no at the vendor: the state is spent, the connection unchanged.
    state = _state(api, "hubspot-state")
    denied = api.get(
        "/oauth/callback", params={"error": "access_denied", "state": state}, headers=JSON
    )
    assert denied.status_code == 400
    assert denied.json()["error"]["code"] == "oauth_access_denied"
    reused = api.get("/oauth/callback", params={"code": "x", "state": state}, headers=JSON)
    assert reused.json()["error"]["code"] == "oauth_state_used"

    # A code the vendor refuses (made up, or for another redirect): 400, not 500.
    state = _state(api, "hubspot-state")
    refused = api.get("/oauth/callback", params={"code": "made-up", "state": state}, headers=JSON)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "oauth_exchange_refused"


def test_google_ads_connect_uses_pkce_and_offline_access(
    hub_api: tuple[httpx.Client, str, str],
) -> None:
    api, _, _ = hub_api
    with served("google_ads") as (sandbox, url):
        assert isinstance(sandbox, GoogleAdsSandbox)
        _create(
            api,
            {
                "name": "google-oauth",
                "connector": "google_ads",
                "config": {
                    "customer_id": "123-456-7890",
                    "base_url": url,
                    "token_url": f"{url}/token",
                    "oauth_authorize_url": f"{url}/o/oauth2/v2/auth",
                },
                "credentials": {
                    "developer_token": DEFAULT_DEVELOPER_TOKEN,
                    "client_id": DEFAULT_CLIENT_ID,
                    "client_secret": DEFAULT_CLIENT_SECRET,
                },
            },
        )
        start, callback = _connect(api, "google-oauth")
        query = parse_qs(urlsplit(start["authorize_url"]).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
        assert callback.status_code == 200, callback.text
        tested = api.post("/api/v1/connections/google-oauth/test").json()
        assert tested["ok"] is True, tested


def test_linkedin_connect_then_refresh_with_its_refresh_token(
    hub_api: tuple[httpx.Client, str, str],
) -> None:
    api, _, _ = hub_api
    with served("linkedin_capi") as (sandbox, url):
        assert isinstance(sandbox, LinkedInCapiSandbox)
        _create(
            api,
            {
                "name": "linkedin-oauth",
                "connector": "linkedin_capi",
                "config": {
                    "ad_account_id": DEFAULT_AD_ACCOUNT,
                    "base_url": f"{url}/rest",
                    "oauth_authorize_url": f"{url}/oauth/v2/authorization",
                    "oauth_token_url": f"{url}/oauth/v2/accessToken",
                },
                "credentials": {
                    "client_id": LINKEDIN_CLIENT_ID,
                    "client_secret": LINKEDIN_CLIENT_SECRET,
                },
            },
        )
        start, callback = _connect(api, "linkedin-oauth")
        assert parse_qs(urlsplit(start["authorize_url"]).query)["scope"] == ["rw_conversions r_ads"]
        assert callback.status_code == 200, callback.text
        assert api.post("/api/v1/connections/linkedin-oauth/test").json()["ok"] is True
        issued = sandbox.oauth.issued
        sandbox.oauth.forget_access_tokens()  # LinkedIn stops taking it: refreshed, retried
        assert api.post("/api/v1/connections/linkedin-oauth/test").json()["ok"] is True
        assert sandbox.oauth.issued == issued + 1


def test_meta_connect_exchanges_for_a_long_lived_token(
    hub_api: tuple[httpx.Client, str, str],
) -> None:
    api, _, _ = hub_api
    with served("meta_capi") as (sandbox, url):
        assert isinstance(sandbox, MetaCapiSandbox)
        _create(
            api,
            {
                "name": "meta-oauth",
                "connector": "meta_capi",
                "config": {
                    "pixel_id": DEFAULT_PIXEL_ID,
                    "base_url": url,
                    "oauth_authorize_url": f"{url}/v24.0/dialog/oauth",
                    "oauth_token_url": f"{url}/v24.0/oauth/access_token",
                },
                "credentials": {"client_id": DEFAULT_APP_ID, "client_secret": DEFAULT_APP_SECRET},
            },
        )
        start, callback = _connect(api, "meta-oauth")
        assert parse_qs(urlsplit(start["authorize_url"]).query)["scope"] == [
            "ads_management,business_management"
        ]
        assert callback.status_code == 200, callback.text
        assert sandbox.oauth.issued == 2  # the code's short-lived token, then the long-lived one
        row = api.get("/api/v1/connections/meta-oauth").json()
        assert "refresh_token" not in row["credentials_set"]
        assert "access_token_expires_at" in row["credentials_set"]
        assert api.post("/api/v1/connections/meta-oauth/test").json()["ok"] is True
