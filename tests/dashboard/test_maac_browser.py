"""MAAC's webhook module in a real browser (issue 16): a marketer names an endpoint, pastes
the engineer's URL, ticks event types, reveals and copies the secret, sends a test that the
engineer's receiver verifies with ``standardwebhooks``, rotates the secret, pauses, resumes
and deletes, all against a live ``renkei serve``. Role and label locators; no sleeps."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.dashboard.conftest import Served
from tests.dashboard.receiver import Receiver

pytestmark = pytest.mark.slow

EVENT_TYPES = {
    "receipt.receipt_validated": "A receipt matched the receipt module's conditions.",
    "form.surveycake_submitted": "A SurveyCake form was submitted.",
    "pnp.status_updated": "A notification message's delivery state changed.",
}


@pytest.fixture(scope="module", autouse=True)
def catalog(served: Served) -> None:
    with served.api() as api:
        for name, description in EVENT_TYPES.items():
            made = api.post("/api/v1/event-types", json={"name": name, "description": description})
            assert made.status_code in (201, 409), made.text


@pytest.fixture
def context(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=served.url, locale="en-US")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url)
    yield context
    context.close()


def sign_in(page: Page, token: str) -> None:
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_maac_webhook_module_end_to_end(
    context: BrowserContext, served: Served, receiver: Receiver
) -> None:
    page = context.new_page()
    sign_in(page, served.admin_token)

    page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
    page.get_by_role("button", name="Create endpoint").click()
    page.get_by_label("Name").fill("MAAC receipts")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("receipt.receipt_validated").check()
    page.get_by_label("pnp.status_updated").check()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=re.compile("MAAC receipts"))).to_be_visible()

    page.get_by_role("link", name="← Webhooks").click()
    row = page.get_by_role("row").filter(has_text="MAAC receipts")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("receipt.receipt_validated")
    expect(row).to_contain_text("pnp.status_updated")
    expect(row).not_to_contain_text("form.surveycake_submitted")
    row.get_by_role("link", name="MAAC receipts").click()

    page.get_by_role("button", name="Reveal secret").click()
    secret_element = page.locator("#secret-value")
    expect(secret_element).to_have_text(re.compile(r"^whsec_"))
    secret = secret_element.inner_text()
    receiver.secret = secret  # the engineer pastes it into the receiver

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied", exact=True)).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret

    page.get_by_label("Event type").select_option("receipt.receipt_validated")
    page.get_by_role("button", name="Send test").click()
    result = page.locator("#test-result")
    expect(result.locator(".status-code")).to_have_text("200")
    expect(result).to_contain_text("Delivered")
    assert receiver.received[-1].verified
    assert receiver.received[-1].payload["type"] == "receipt.receipt_validated"

    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_text("Secret rotated")).to_be_visible()
    expect(page.locator("#secret-value")).not_to_have_text(secret)
    expect(page.locator("#secret-value")).to_have_text(re.compile(r"^whsec_"))

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("heading", name=re.compile("MAAC receipts"))).to_contain_text("paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("heading", name=re.compile("MAAC receipts"))).to_contain_text("active")

    attempts = page.get_by_role("table").filter(has_text="Request and response")
    expect(attempts.get_by_role("row")).to_have_count(2)  # header + the test's attempt
    attempts.get_by_text("Show").first.click()
    expect(attempts).to_contain_text("webhook-signature: [redacted]")

    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete the endpoint MAAC receipts?")).to_be_visible()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.get_by_text("Endpoint deleted.")).to_be_visible()
    expect(page.get_by_role("link", name="MAAC receipts")).to_have_count(0)


def test_a_failing_receiver_is_explained_in_words(
    context: BrowserContext, served: Served, receiver: Receiver
) -> None:
    with served.api() as api:
        made = api.post(
            "/api/v1/endpoints",
            json={"name": "Wrong secret", "url": receiver.url, "event_types": []},
        )
    receiver.secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # not this endpoint's
    page = context.new_page()
    sign_in(page, served.admin_token)
    page.goto(f"/ui/webhooks/{made.json()['id']}")
    page.get_by_label("Event type").select_option("form.surveycake_submitted")
    page.get_by_role("button", name="Send test").click()
    result = page.locator("#test-result")
    expect(result.locator(".status-code")).to_have_text("401")
    expect(result).to_contain_text("your receiver rejected the signature")


def test_recover_takes_the_time_in_the_viewers_zone(
    browser: Browser, served: Served, receiver: Receiver
) -> None:
    with served.api() as api:
        made = api.post(
            "/api/v1/endpoints", json={"name": "Recovering", "url": receiver.url}
        ).json()
    context = browser.new_context(base_url=served.url, locale="en-US", timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        sign_in(page, served.admin_token)
        page.goto(f"/ui/webhooks/{made['id']}")
        expect(page.locator("#recover-zone")).to_have_text("Asia/Tokyo")
        page.get_by_label("Since").fill("2026-12-07T09:00:00")  # 09:00 in Tokyo
        page.get_by_role("button", name="Recover").click()
        expect(page.get_by_text("failed deliveries queued again")).to_be_visible()
    finally:
        context.close()
    with served.api() as api:
        entries = api.get(
            "/api/v1/audit", params={"action": "endpoint.recovered", "target_id": made["id"]}
        ).json()["data"]
    assert entries[0]["details"]["since"] == "2026-12-07T00:00:00+00:00"  # sent as UTC
    assert entries[0]["details"]["via"] == "dashboard"


def test_the_events_filter_takes_the_time_in_the_viewers_zone(
    browser: Browser, served: Served
) -> None:
    context = browser.new_context(base_url=served.url, locale="en-US", timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        sign_in(page, served.admin_token)
        page.goto("/ui/events")
        expect(page.locator("#filter-zone")).to_have_text("Asia/Tokyo")
        page.get_by_label("From").fill("2026-12-07T09:00:00")  # 09:00 in Tokyo
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**/ui/events?*")
        assert "since=2026-12-07T00%3A00%3A00.000Z" in page.url  # sent as UTC
        expect(page.get_by_label("From")).to_have_value("2026-12-07T09:00")  # shown local
    finally:
        context.close()
