"""OAuth connect's pieces against the sandboxes, on a manual clock: the authorize URL each
vendor's declaration produces, a connected token used until shortly before it ends and then
refreshed (before it expired, so no call is refused), a revoked grant raised as
GrantRevoked, and a token that cannot be refreshed (Meta) refused locally once past its end.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.types import ASGIApp

from renkei.clock import ManualClock
from renkei.connectors.errors import GrantRevoked
from renkei.connectors.google_ads import GoogleAdsConnector
from renkei.connectors.hubspot import HubSpotConnector
from renkei.connectors.linkedin_capi import LinkedInConversionsConnector
from renkei.connectors.meta_capi import MetaConversionsConnector
from renkei.connectors.oauth import EXPIRES_AT, Pkce, authorize_url, exchange_code
from renkei.connectors.spec import Connection
from renkei.sandbox.hubspot import create_hubspot_app
from renkei.sandbox.hubspot.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET
from renkei.sandbox.meta_capi import DEFAULT_ACCESS_TOKEN, DEFAULT_PIXEL_ID, create_meta_capi_app

REDIRECT = "https://renkei.example.com/oauth/callback"


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_each_vendor_declares_its_authorize_url() -> None:
    pkce = Pkce.new()
    google = GoogleAdsConnector.oauth
    hubspot = HubSpotConnector.oauth
    meta = MetaConversionsConnector.oauth
    linkedin = LinkedInConversionsConnector.oauth
    assert google and hubspot and meta and linkedin
    url = authorize_url(google, {}, client_id="c", redirect_uri=REDIRECT, state="s", pkce=pkce)
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    query = _query(url)
    assert query["code_challenge"] == [pkce.challenge] and query["access_type"] == ["offline"]
    assert query["scope"] == ["https://www.googleapis.com/auth/adwords"]
    url = authorize_url(meta, {}, client_id="c", redirect_uri=REDIRECT, state="s", pkce=None)
    assert url.startswith("https://www.facebook.com/v24.0/dialog/oauth?")
    assert _query(url)["scope"] == ["ads_management,business_management"]
    url = authorize_url(linkedin, {}, client_id="c", redirect_uri=REDIRECT, state="s", pkce=None)
    assert url.startswith("https://www.linkedin.com/oauth/v2/authorization?")
    assert _query(url)["scope"] == ["rw_conversions r_ads"]
    # A sandbox (or a regional host) stands in through the connection's config.
    url = authorize_url(
        hubspot,
        {"oauth_authorize_url": "http://127.0.0.1:9/oauth/authorize"},
        client_id="c",
        redirect_uri=REDIRECT,
        state="s",
        pkce=None,
    )
    assert url.startswith("http://127.0.0.1:9/oauth/authorize?response_type=code&client_id=c")


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    pkce = Pkce.new()
    digest = hashlib.sha256(pkce.verifier.encode()).digest()
    assert pkce.challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(pkce.verifier) <= 128 and Pkce.new().verifier != pkce.verifier


async def test_a_connected_token_is_refreshed_before_it_expires_and_a_revoked_grant_raises(
    serve: Callable[[ASGIApp], str],
) -> None:
    clock = ManualClock()
    sandbox = create_hubspot_app(clock=clock)
    url = serve(sandbox.app)
    provider = HubSpotConnector.oauth
    assert provider is not None
    config = {"base_url": url, "oauth_token_url": f"{url}/oauth/v1/token"}
    consent = sandbox.oauth.authorize(
        {"client_id": DEFAULT_OAUTH_CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code"}
    )
    code = _query(consent.headers["location"])["code"][0]
    async with httpx.AsyncClient() as client:
        tokens = await exchange_code(
            client.send,
            provider,
            config,
            client_id=DEFAULT_OAUTH_CLIENT_ID,
            client_secret=DEFAULT_OAUTH_CLIENT_SECRET,
            code=code,
            redirect_uri=REDIRECT,
            verifier=None,
            clock=clock,
        )
    assert tokens.refresh_token and tokens.expires_at == clock.time() + 1800
    credentials = {
        "client_id": DEFAULT_OAUTH_CLIENT_ID,
        "client_secret": DEFAULT_OAUTH_CLIENT_SECRET,
        **tokens.credentials(),
    }
    connector = HubSpotConnector()
    connection = Connection("crm", credentials=credentials, config=config)
    async with connector.open(connection, clock=clock) as ctx:
        await connector.test_call(ctx)
        assert sandbox.oauth.issued == 1  # Connect's token, no refresh
        clock.advance(seconds=1800 - 61)
        await connector.test_call(ctx)
        assert sandbox.oauth.issued == 1
        clock.advance(seconds=2)  # inside the minute before its end: refreshed first
        await connector.test_call(ctx)
        assert sandbox.oauth.issued == 2
        assert sandbox.counters.calls["GET /crm/v3/objects/contacts"] == 3  # none refused

        sandbox.oauth.revoke(tokens.refresh_token)
        clock.advance(seconds=1800)
        with pytest.raises(GrantRevoked) as raised:
            await connector.test_call(ctx)
        assert raised.value.code == "invalid_grant"
        assert tokens.refresh_token not in str(raised.value)


async def test_a_token_that_cannot_be_refreshed_ends_in_grant_revoked(
    serve: Callable[[ASGIApp], str],
) -> None:
    clock = ManualClock()
    sandbox = create_meta_capi_app(clock=clock)
    url = serve(sandbox.app)
    credentials = {"access_token": DEFAULT_ACCESS_TOKEN, EXPIRES_AT: f"{clock.time() + 60:.0f}"}
    config = {"pixel_id": DEFAULT_PIXEL_ID, "base_url": url}
    connector = MetaConversionsConnector()
    connection = Connection("ads", credentials=credentials, config=config)
    async with connector.open(connection, clock=clock) as ctx:
        assert (await connector.test_call(ctx))["pixel_id"] == DEFAULT_PIXEL_ID
        clock.advance(seconds=60)
        calls = len(sandbox.requests)
        with pytest.raises(GrantRevoked) as raised:
            await connector.test_call(ctx)
        assert raised.value.code == "token_expired"
        assert len(sandbox.requests) == calls  # refused here, not sent
