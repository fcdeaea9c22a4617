"""Screenshots of the event types, events (with an event's timeline), sources, profiles and
audit log pages, and the timeline in Japanese. In the suite they go to a temporary
directory, so the pages are at least drawn without error; ``scripts/screenshots`` sets
RENKEI_SCREENSHOTS_DIR=docs/dashboard to refresh the committed ones."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.conftest import Served
from tests.dashboard.receiver import Receiver

pytestmark = pytest.mark.slow

RECEIPT_SCHEMA = {
    "type": "object",
    "required": ["receipt_id", "member_id", "amount"],
    "properties": {
        "receipt_id": {"type": "string"},
        "member_id": {"type": "string"},
        "amount": {"type": "number"},
    },
}


def _shoot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def _seed(api: httpx.Client, served: Served, receiver: Receiver) -> dict[str, str]:
    """A small shop's day: a catalog, an endpoint on the receiver, a flow, a tracking source
    with a person, a webhook source with a request."""
    api.post(
        "/api/v1/event-types",
        json={
            "name": "receipt.receipt_validated",
            "description": "A receipt matched the receipt module's conditions.",
            "schema": RECEIPT_SCHEMA,
            "example": {"receipt_id": "r_1001", "member_id": "m_42", "amount": 1280},
        },
    )
    api.post(
        "/api/v1/event-types",
        json={"name": "form.surveycake_submitted", "description": "A SurveyCake form was sent."},
    )
    endpoint = api.post(
        "/api/v1/endpoints",
        json={
            "name": "CRM points",
            "url": receiver.url,
            "event_types": ["receipt.receipt_validated"],
        },
    ).json()
    receiver.secret = api.get(f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"]
    api.post(
        "/api/v1/flows",
        json={
            "name": "Big receipts to the CRM",
            "trigger": {"event_types": ["receipt.receipt_validated"]},
            "steps": [
                {"id": "big", "filter": {"data.amount": {"$gte": 1000}}},
                {"id": "shape", "map": [{"target": "points", "source": "event.data.amount"}]},
            ],
        },
    )
    tracking = api.post("/api/v1/sources", json={"kind": "tracking", "name": "Shop website"})
    write_key = tracking.json()["write_key"]
    httpx.post(
        f"{served.url}/v1/identify",
        auth=(write_key, ""),
        json={
            "userId": "m_42",
            "traits": {"email": "hanako@example.jp", "name": "山田花子", "plan": "gold"},
        },
    )
    httpx.post(
        f"{served.url}/v1/track",
        auth=(write_key, ""),
        json={"userId": "m_42", "event": "Order Completed", "properties": {"total": 1280}},
    )
    hook = api.post(
        "/api/v1/sources",
        json={"kind": "webhook", "name": "SurveyCake", "verification": {"scheme": "none"}},
    ).json()
    httpx.post(
        f"{served.url}/hooks/{hook['id']}",
        json={"type": "form.surveycake_submitted", "answers": {"q1": "<b>very</b> good"}},
    )
    published = api.post(
        "/api/v1/events",
        json={
            "type": "receipt.receipt_validated",
            "data": {"receipt_id": "r_1001", "member_id": "m_42", "amount": 1280},
        },
    ).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the worker delivers and runs the flow
        detail = api.get(f"/api/v1/events/{published['id']}").json()
        runs, deliveries = detail["flow_runs"], detail["deliveries"]
        if runs and runs[0]["finished_at"] and deliveries and deliveries[0]["attempts"]:
            break
        time.sleep(0.1)
    return {
        "event": published["id"],
        "tracking": tracking.json()["id"],
        "hook": hook["id"],
    }


def test_screenshots_of_the_event_pages(
    browser: Browser, served: Served, receiver: Receiver, tmp_path: Path
) -> None:
    directory = Path(os.environ.get("RENKEI_SCREENSHOTS_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    with served.api() as api:
        made = _seed(api, served, receiver)
    context = browser.new_context(
        base_url=served.url, locale="en-US", viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.goto("/ui/event-types")
    page.get_by_label("API token").fill(served.admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Event types")).to_be_visible()
    page.get_by_text("Show").first.click()
    _shoot(page, directory, "event-types")
    page.get_by_role("button", name="Create event type").click()
    _shoot(page, directory, "event-types-new")
    page.goto("/ui/events")
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()
    _shoot(page, directory, "events")
    page.goto(f"/ui/events/{made['event']}")
    expect(page.get_by_text("HTTP 200")).to_be_visible()
    for summary in page.get_by_text("Input and output").all():
        summary.click()
    _shoot(page, directory, "event-timeline")
    page.goto("/ui/sources")
    _shoot(page, directory, "sources")
    page.goto(f"/ui/sources/{made['tracking']}")
    page.get_by_role("button", name="Reveal write key").click()
    expect(page.get_by_role("heading", name="Write key")).to_be_visible()
    _shoot(page, directory, "source-tracking")
    page.goto(f"/ui/sources/{made['hook']}")
    _shoot(page, directory, "source-webhook")
    page.goto("/ui/profiles")
    page.get_by_label("Email or user id").fill("hanako@example.jp")
    page.get_by_role("button", name="Search").click()
    _shoot(page, directory, "profiles")
    page.get_by_role("link", name="hanako@example.jp").click()
    expect(page.get_by_role("heading", name="Traits")).to_be_visible()
    _shoot(page, directory, "profile")
    page.goto("/ui/audit")
    _shoot(page, directory, "audit")
    context.close()

    japanese = browser.new_context(
        base_url=served.url,
        locale="ja-JP",
        extra_http_headers={"Accept-Language": "ja"},
        viewport={"width": 1280, "height": 800},
    )
    page = japanese.new_page()
    page.goto(f"/ui/events/{made['event']}")
    page.get_by_label("APIトークン").fill(served.admin_token)
    page.get_by_role("button", name="サインイン").click()
    expect(page.get_by_role("heading", name="このイベントで起きたこと")).to_be_visible()
    _shoot(page, directory, "event-timeline-ja")
    japanese.close()
