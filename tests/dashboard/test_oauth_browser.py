"""In a real browser: "Connect with OAuth" on a HubSpot connection's card leads to the HubSpot
sandbox's consent page and through it and /oauth/callback back to the connections page, connected
(the button then offers "Reconnect"), and "Test connection" works with the new token."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from renkei.sandbox import serve_in_thread
from renkei.sandbox.hubspot import create_hubspot_app
from renkei.sandbox.hubspot.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET
from tests.dashboard.conftest import Served
from tests.dashboard.test_integrations_browser import sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def context(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=served.url, locale="en-US")
    yield context
    context.close()


def test_connect_with_oauth_from_the_connections_page(
    context: BrowserContext, served: Served
) -> None:
    sandbox = create_hubspot_app()
    with serve_in_thread(sandbox.app) as url, served.api() as api:
        made = api.post(
            "/api/v1/connections",
            json={
                "name": "hubspot-public-app",
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
            },
        )
        assert made.status_code == 201, made.text
        page = context.new_page()
        sign_in(page, served.write_token, "Connections")
        card = page.get_by_role("article", name=re.compile("^hubspot-public-app"))
        card.get_by_role("button", name="Connect with OAuth").click()
        expect(page.get_by_role("heading", name="Connect with OAuth")).to_be_visible()
        page.get_by_role("link", name="Continue to the consent page").click()
        expect(
            page.get_by_role("status").filter(has_text="Authorized at the vendor")
        ).to_be_visible()
        assert page.url.startswith(f"{served.url}/ui/connections?notice=connected")
        card = page.get_by_role("article", name=re.compile("^hubspot-public-app"))
        expect(card.get_by_role("button", name="Reconnect")).to_be_visible()
        card.get_by_role("button", name="Test connection").click()
        expect(card.get_by_text("The connection works")).to_be_visible()
        assert sandbox.oauth.issued == 1
        assert DEFAULT_OAUTH_CLIENT_SECRET not in page.content()
