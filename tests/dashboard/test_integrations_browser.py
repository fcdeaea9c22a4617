"""In a real browser: a flow's preview sends nothing; connecting the Marketo sandbox from
its card and testing it; the syncs page with a sync and its quota picture."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from renkei.sandbox import MarketoSandboxConfig, create_marketo_app, serve_in_thread
from tests.dashboard.conftest import Served
from tests.dashboard.receiver import Receiver

pytestmark = pytest.mark.slow

SANDBOX_SECRET = MarketoSandboxConfig().client_secret


@pytest.fixture(scope="module")
def marketo() -> Iterator[str]:
    """The Marketo sandbox on 127.0.0.1 (the server allows private targets: conftest)."""
    sandbox = create_marketo_app(MarketoSandboxConfig())
    with serve_in_thread(sandbox.app) as base_url:
        yield base_url


@pytest.fixture
def context(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=served.url, locale="en-US")
    yield context
    context.close()


def sign_in(page: Page, token: str, to: str) -> None:
    """Signed in straight onto the page under test (``next``), then by its link."""
    page.goto(f"/ui/login?next=/ui/{to.lower()}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=to, exact=True)).to_be_visible()
    page.get_by_role("link", name=to, exact=True).click()


def test_a_flow_preview_shows_what_would_be_sent_and_sends_nothing(
    context: BrowserContext, served: Served, receiver: Receiver
) -> None:
    with served.api() as api:
        endpoint = api.post("/api/v1/endpoints", json={"name": "crm", "url": receiver.url})
        assert endpoint.status_code == 201, endpoint.text
        flow = api.post(
            "/api/v1/flows",
            json={
                "name": "big-orders-to-crm",
                "trigger": {"event_types": ["track"], "names": ["Order Completed"]},
                "steps": [
                    {"id": "big", "filter": {"total": {"$gte": 100}}},
                    {"id": "notify", "action": {"url": receiver.url}},
                    {"id": "deliver", "action": {"endpoint": "crm", "event_type": "order.big"}},
                ],
            },
        )
        assert flow.status_code == 201, flow.text
    page = context.new_page()
    sign_in(page, served.write_token, "Flows")
    page.get_by_role("link", name="big-orders-to-crm").click()
    expect(page.get_by_role("heading", name="big-orders-to-crm")).to_be_visible()
    page.get_by_label("Event (JSON)").fill('{"type": "track",')
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("the event is not valid JSON")
    page.get_by_label("Event (JSON)").fill(
        '{"type": "track", "name": "Order Completed", "user_id": "u1", "data": {"total": 250}}'
    )
    page.get_by_role("button", name="Preview", exact=True).click()
    result = page.locator("#preview-result")
    expect(result).to_contain_text("matches this event")
    expect(result).to_contain_text(f"POST {receiver.url}")
    expect(result).to_contain_text("Nothing was sent")
    expect(result.locator(".would-send")).to_have_count(2)  # the URL and the endpoint
    assert receiver.received == []
    with served.api() as api:
        assert api.get("/api/v1/deliveries").json()["data"] == []
        assert api.get(f"/api/v1/flows/{flow.json()['id']}/runs").json()["data"] == []


def test_connecting_the_marketo_sandbox_from_its_card_and_testing_it(
    context: BrowserContext, served: Served, marketo: str
) -> None:
    page = context.new_page()
    sign_in(page, served.write_token, "Connections")
    card = page.get_by_role("article", name="Adobe Marketo Engage")
    card.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name="Connect Adobe Marketo Engage")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("marketo-sandbox")
    page.get_by_label(re.compile(r"^client_id")).fill(MarketoSandboxConfig().client_id)
    secret = page.get_by_label(re.compile(r"^client_secret"))
    expect(secret).to_have_attribute("type", "password")
    secret.fill(SANDBOX_SECRET)
    page.get_by_label(re.compile(r"^base_url")).fill(marketo)
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status").filter(has_text="Connected.")).to_be_visible()
    connection = page.get_by_role("article", name=re.compile("^marketo-sandbox"))
    expect(connection.get_by_label("Daily quota")).to_be_visible()
    connection.get_by_role("button", name="Test connection").click()
    expect(connection.get_by_text("The connection works")).to_be_visible()
    assert SANDBOX_SECRET not in page.content()


def test_the_syncs_page_shows_a_sync_and_its_quota_picture(
    context: BrowserContext, served: Served, marketo: str
) -> None:
    with served.api() as api:
        made = api.post(
            "/api/v1/connections",
            json={
                "name": "marketo-for-syncs",
                "connector": "marketo",
                "config": {"base_url": marketo},
                "credentials": {
                    "client_id": MarketoSandboxConfig().client_id,
                    "client_secret": SANDBOX_SECRET,
                },
            },
        )
        assert made.status_code == 201, made.text
        sync = api.post(
            "/api/v1/syncs",
            json={
                "name": "marketo-leads-to-profiles",
                "connection": "marketo-for-syncs",
                "direction": "pull",
                "object": "leads",
                "config": {"fields": ["email"], "page_size": 300},
                "trigger": {"every_seconds": 1800},
            },
        )
        assert sync.status_code == 201, sync.text
    page = context.new_page()
    sign_in(page, served.write_token, "Syncs")
    card = page.get_by_role("article", name=re.compile("^marketo-leads-to-profiles"))
    expect(card).to_contain_text("every 30 min")
    expect(page.get_by_role("heading", name="Quota of marketo-for-syncs today")).to_be_visible()
    expect(page.get_by_label("Calls used today")).to_have_attribute("max", "50000")
    expect(
        page.get_by_role("img", name=re.compile("Calls per hour: batch and realtime"))
    ).to_be_visible()
    card.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status").filter(has_text="Run queued")).to_be_visible()
