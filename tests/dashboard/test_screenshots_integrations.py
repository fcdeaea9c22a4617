"""Screenshots of the flows, connections and syncs pages, with data: a flow that ran and a
preview, the Marketo sandbox connected and tested, a sync that ran against it and the
quota picture. Like test_screenshots.py: a temporary directory in the suite,
``scripts/screenshots`` writes them into docs/dashboard/."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from renkei.sandbox import MarketoSandbox, MarketoSandboxConfig, create_marketo_app, serve_in_thread
from tests.dashboard.conftest import Served
from tests.dashboard.receiver import Receiver

pytestmark = pytest.mark.slow

FLOW = {
    "name": "big-orders-to-crm",
    "description": "Orders of 100 or more: the CRM hears of them, VIPs are tagged.",
    "trigger": {"event_types": ["order.completed"]},
    "steps": [
        {"id": "big", "filter": {"total": {"$gte": 100}}},
        {
            "id": "contact",
            "map": {
                "fields": [
                    {"target": "email", "source": "data.email", "convert": ["trim", "lowercase"]},
                    {"target": "total", "source": "data.total", "convert": ["to_number"]},
                    {
                        "target": "ordered_on",
                        "source": "data.ordered_at",
                        "convert": ["to_date"],
                        "output": "date",
                    },
                ]
            },
        },
        {
            "id": "route",
            "branch": {
                "paths": [
                    {
                        "name": "vip",
                        "when": {"total": {"$gte": 1000}},
                        "steps": [{"id": "vip", "action": {"publish": {"type": "order.vip"}}}],
                    }
                ]
            },
        },
        {"id": "deliver", "action": {"endpoint": "crm", "event_type": "order.big"}},
    ],
}


@pytest.fixture(scope="module")
def marketo() -> Iterator[tuple[MarketoSandbox, str]]:
    sandbox = create_marketo_app(MarketoSandboxConfig())
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url


def _shoot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def _until(check: object, what: str) -> None:
    """Setup waits for the server's worker (the browser steps never sleep)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _seed(api: httpx.Client, receiver: Receiver, marketo: tuple[MarketoSandbox, str]) -> str:
    sandbox, base_url = marketo
    endpoint = api.post("/api/v1/endpoints", json={"name": "crm", "url": receiver.url}).json()
    receiver.secret = api.get(f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"]
    flow = api.post("/api/v1/flows", json=FLOW)
    assert flow.status_code == 201, flow.text
    flow_id = str(flow.json()["id"])
    for total in (250, 1800, 40):
        data = {"email": " Ada@Example.com ", "total": total, "ordered_at": "2026-12-07T08:00:00Z"}
        api.post("/api/v1/events", json={"type": "order.completed", "data": data})
    _until(
        lambda: (
            len(api.get(f"/api/v1/flows/{flow_id}/runs").json()["data"]) == 3
            and all(
                run["status"] in ("succeeded", "stopped", "failed")
                for run in api.get(f"/api/v1/flows/{flow_id}/runs").json()["data"]
            )
        ),
        "the flow's runs",
    )
    for number in range(12):
        sandbox.state.create_lead({"email": f"lead{number}@example.com", "firstName": "Lead"})
    api.post(
        "/api/v1/connections",
        json={
            "name": "marketo",
            "connector": "marketo",
            "config": {"base_url": base_url},
            "credentials": {
                "client_id": MarketoSandboxConfig().client_id,
                "client_secret": MarketoSandboxConfig().client_secret,
            },
            # A small quota, so the day's few calls show against the budget's pace.
            "limits": {"daily_quota": {"calls": 240}},
        },
    )
    made = api.post(
        "/api/v1/syncs",
        json={
            "name": "marketo-leads-to-profiles",
            "connection": "marketo",
            "direction": "pull",
            "object": "leads",
            "config": {
                "fields": ["email", "firstName"],
                "page_size": 5,
                "mapping": {"fields": [{"target": "email", "source": "email"}]},
            },
            "trigger": {"every_seconds": 1800},
        },
    )
    assert made.status_code == 201, made.text
    api.post("/api/v1/syncs/marketo-leads-to-profiles/run", json={"from_start": True})
    _until(
        lambda: (
            api.get("/api/v1/syncs/marketo-leads-to-profiles/runs").json()["data"][0]["status"]
            in ("succeeded", "failed")
        ),
        "the sync's run",
    )
    return flow_id


def test_screenshots_of_flows_connections_and_syncs(
    browser: Browser,
    served: Served,
    receiver: Receiver,
    marketo: tuple[MarketoSandbox, str],
    tmp_path: Path,
) -> None:
    directory = Path(os.environ.get("RENKEI_SCREENSHOTS_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    with served.api() as api:
        flow_id = _seed(api, receiver, marketo)
    context = browser.new_context(
        base_url=served.url, locale="en-US", viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.goto("/ui/login?next=/ui/flows")
    page.get_by_label("API token").fill(served.admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Flows", exact=True)).to_be_visible()
    _shoot(page, directory, "flows")
    page.goto(f"/ui/flows/{flow_id}")
    page.get_by_label("Event (JSON)").fill(
        '{"type": "order.completed", "data": {"email": "Bo@Example.com", "total": 1200}}'
    )
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator("#preview-result")).to_contain_text("Nothing was sent")
    _shoot(page, directory, "flow")
    page.goto("/ui/connections")
    page.get_by_role("article", name="marketo").get_by_role(
        "button", name="Test connection"
    ).click()
    expect(page.get_by_text("The connection works")).to_be_visible()
    _shoot(page, directory, "connections")
    page.goto("/ui/connections/new/marketo")
    _shoot(page, directory, "connect-marketo")
    page.goto("/ui/syncs")
    expect(page.get_by_role("heading", name="Quota of marketo today")).to_be_visible()
    _shoot(page, directory, "syncs")
    context.close()

    japanese = browser.new_context(
        base_url=served.url,
        locale="ja-JP",
        extra_http_headers={"Accept-Language": "ja"},
        viewport={"width": 1280, "height": 800},
    )
    page = japanese.new_page()
    page.goto("/ui/login?next=/ui/syncs")
    page.get_by_label("APIトークン").fill(served.admin_token)
    page.get_by_role("button", name="サインイン").click()
    expect(page.get_by_role("heading", name="同期", exact=True)).to_be_visible()
    _shoot(page, directory, "syncs-ja")
    page.goto(f"/ui/flows/{flow_id}")
    _shoot(page, directory, "flow-ja")
    japanese.close()
