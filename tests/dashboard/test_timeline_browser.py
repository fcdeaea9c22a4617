"""An event's page in a real browser (issue 16): an event published through the API shows,
in one timeline, its delivery to the engineer's receiver (verified with
``standardwebhooks``) with the attempt, and the flow run it started with each step; a
payload holding ``<script>`` and HTML is shown as text and never runs. Role and label
locators; no sleeps in the browser."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, expect

from tests.dashboard.conftest import Served
from tests.dashboard.receiver import Receiver

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert('owned')</script><b>bold</b>"


def _settled(api: httpx.Client, event_id: str) -> dict[str, Any]:
    """The event once its delivery and its flow run have finished (the worker runs them;
    polling the API, not the page)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        detail = api.get(f"/api/v1/events/{event_id}").json()
        deliveries, runs = detail["deliveries"], detail["flow_runs"]
        if (
            deliveries
            and all(item["status"] == "succeeded" for item in deliveries)
            and runs
            and all(run["status"] == "succeeded" for run in runs)
        ):
            return detail
        time.sleep(0.1)
    raise AssertionError(f"the event did not settle: {detail}")


def test_an_events_timeline_shows_its_delivery_and_its_flow_run(
    browser: Browser, served: Served, receiver: Receiver
) -> None:
    with served.api() as api:
        api.post("/api/v1/event-types", json={"name": "survey.answered"})
        endpoint = api.post(
            "/api/v1/endpoints",
            json={
                "name": "Engineer's CRM",
                "url": receiver.url,
                "event_types": ["survey.answered"],
            },
        ).json()
        receiver.secret = api.get(f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"]
        flow = api.post(
            "/api/v1/flows",
            json={
                "name": "Tag survey answers",
                "trigger": {"event_types": ["survey.answered"]},
                "steps": [
                    {"id": "shape", "map": [{"target": "comment", "source": "event.data.comment"}]}
                ],
            },
        )
        assert flow.status_code == 201, flow.text
        published = api.post(
            "/api/v1/events", json={"type": "survey.answered", "data": {"comment": HOSTILE}}
        )
        assert published.status_code in (200, 201, 202), published.text
        event_id = published.json()["id"]
        _settled(api, event_id)
    assert receiver.received and receiver.received[-1].verified

    context = browser.new_context(base_url=served.url, locale="en-US")
    page = context.new_page()
    dialogs: list[Dialog] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog), dialog.dismiss()))
    page.goto("/ui/events")  # asks to sign in first, then comes back here
    page.get_by_label("API token").fill(served.read_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()
    page.get_by_label("Type").fill("survey.answered")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=event_id).click()
    expect(page).to_have_url(re.compile(f"/ui/events/{event_id}$"))

    payload = page.get_by_label("Payload")
    expect(payload).to_contain_text(HOSTILE)
    expect(page.locator("main b", has_text="bold")).to_have_count(0)
    timeline = page.get_by_role("list").filter(has_text="Received")
    expect(timeline.get_by_role("link", name="Engineer's CRM")).to_be_visible()
    expect(timeline.get_by_text("HTTP 200")).to_be_visible()
    expect(timeline.get_by_role("link", name="Tag survey answers")).to_be_visible()
    expect(timeline.get_by_text("Step shape")).to_be_visible()
    timeline.get_by_text("Input and output").click()
    expect(timeline.get_by_text('"comment":').first).to_be_visible()
    assert dialogs == []  # the payload's script never ran
    context.close()
