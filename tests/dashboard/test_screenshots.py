"""Screenshots of every dashboard page (English, and the overview and an endpoint in
Japanese and in the dark theme). In the suite they go to a temporary directory, so the pages are at least drawn
without error; ``scripts/screenshots`` sets RENKEI_SCREENSHOTS_DIR=docs/dashboard to
refresh the committed ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.conftest import Served
from tests.dashboard.receiver import Receiver
from tests.support.server import free_port

pytestmark = pytest.mark.slow


def _shoot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def test_screenshots(browser: Browser, served: Served, receiver: Receiver, tmp_path: Path) -> None:
    directory = Path(os.environ.get("RENKEI_SCREENSHOTS_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    with served.api() as api:
        for name in (
            "receipt.receipt_validated",
            "form.surveycake_submitted",
            "message.first_open",
        ):
            api.post("/api/v1/event-types", json={"name": name})
        made = api.post(
            "/api/v1/endpoints",
            json={
                "name": "MAAC receipts → CRM",
                "description": "Receipts that passed validation, for the CRM's points.",
                "url": receiver.url,
                "event_types": ["receipt.receipt_validated", "message.first_open"],
            },
        ).json()
        receiver.secret = api.get(f"/api/v1/endpoints/{made['id']}/secret").json()["key"]
        api.post(  # an engineer's receiver that is down: failed deliveries, an open problem
            "/api/v1/endpoints",
            json={
                "name": "Points system (down)",
                "url": f"http://127.0.0.1:{free_port()}/points",
                "event_types": ["receipt.receipt_validated"],
            },
        )
        for number in range(12):
            api.post(
                "/api/v1/events",
                json={"type": "receipt.receipt_validated", "data": {"receipt": number}},
            )
        api.post(f"/api/v1/endpoints/{made['id']}/test", json={"event_type": "message.first_open"})
    context = browser.new_context(
        base_url=served.url, locale="en-US", viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.goto("/ui/login")
    _shoot(page, directory, "login")
    page.get_by_label("API token").fill(served.admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _shoot(page, directory, "overview")
    page.goto("/ui/webhooks")
    _shoot(page, directory, "webhooks")
    page.goto("/ui/webhooks/new")
    _shoot(page, directory, "webhooks-new")
    page.goto(f"/ui/webhooks/{made['id']}")
    page.get_by_label("Event type").select_option("receipt.receipt_validated")
    page.get_by_role("button", name="Send test").click()
    expect(page.locator("#test-result .status-code")).to_have_text("200")
    _shoot(page, directory, "webhook-endpoint")
    page.goto(f"/ui/webhooks/{made['id']}/delete")
    _shoot(page, directory, "webhook-delete")
    context.close()

    japanese = browser.new_context(
        base_url=served.url,
        locale="ja-JP",
        extra_http_headers={"Accept-Language": "ja"},
        viewport={"width": 1280, "height": 800},
    )
    page = japanese.new_page()
    page.goto("/ui/login")
    page.get_by_label("APIトークン").fill(served.admin_token)
    page.get_by_role("button", name="サインイン").click()
    expect(page.get_by_role("heading", name="概要")).to_be_visible()
    page.goto(f"/ui/webhooks/{made['id']}")
    _shoot(page, directory, "webhook-endpoint-ja")
    japanese.close()

    dark = browser.new_context(
        base_url=served.url,
        locale="en-US",
        color_scheme="dark",
        viewport={"width": 1280, "height": 800},
    )
    page = dark.new_page()
    page.goto("/ui/login")
    page.get_by_label("API token").fill(served.admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    background = "getComputedStyle(document.documentElement).backgroundColor"
    assert page.evaluate(background) == "rgb(18, 21, 27)"  # the dark ground
    _shoot(page, directory, "overview-dark")
    page.goto(f"/ui/webhooks/{made['id']}")
    page.get_by_label("Event type").select_option("receipt.receipt_validated")
    page.get_by_role("button", name="Send test").click()
    expect(page.locator("#test-result .status-code")).to_have_text("200")
    _shoot(page, directory, "webhook-endpoint-dark")
    dark.close()
    assert len(list(directory.glob("*.png"))) >= 9
