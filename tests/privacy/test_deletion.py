"""Issue 20 (2): a person deleted everywhere. Over real HTTP on loopback, with a worker, the
seven vendor sandboxes that can delete people, on SQLite and PostgreSQL: after the request
finishes, Renkei's database holds no trace of the email or user id (SQLite's file, free
pages and WAL read raw; every row of every table on both), and no sandbox holds them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from renkei.sandbox import create_sandbox, serve_in_thread
from renkei.sandbox.amplitude import DEFAULT_API_KEY as AMPLITUDE_KEY
from renkei.sandbox.amplitude import DEFAULT_SECRET_KEY as AMPLITUDE_SECRET
from renkei.sandbox.braze import DEFAULT_API_KEY as BRAZE_KEY
from renkei.sandbox.klaviyo.state import DEFAULT_API_KEY as KLAVIYO_KEY
from renkei.sandbox.mailchimp.state import DEFAULT_API_KEY as MAILCHIMP_KEY
from renkei.sandbox.onesignal import DEFAULT_API_KEY as ONESIGNAL_KEY
from renkei.sandbox.onesignal import DEFAULT_APP_ID as ONESIGNAL_APP
from renkei.store import Database
from tests.connectors.harness import HUBSPOT_CREDENTIALS, MARKETO_CREDENTIALS
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.privacy.support import finished_request
from tests.support.rawscan import assert_not_in_files, dump_all_rows, sqlite_files
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(180)

EMAIL = "erase.me-7c1d@example.com"
USER_ID = "user-erase-4f9b2a"
ANONYMOUS_ID = "anon-erase-81d3e0"
OTHER_EMAIL = "keep.me-2b8e@example.com"
OTHER_USER = "user-keep-90aa1c"
SANDBOXES = ("marketo", "hubspot", "braze", "klaviyo", "mailchimp", "amplitude", "onesignal")


class Vendors:
    """The seven sandboxes, each holding the person (and someone else)."""

    def __init__(self, stack: ExitStack) -> None:
        self.marketo = create_sandbox("marketo")
        self.hubspot = create_sandbox("hubspot")
        self.braze = create_sandbox("braze")
        self.klaviyo = create_sandbox("klaviyo")
        self.mailchimp = create_sandbox("mailchimp")
        self.amplitude = create_sandbox("amplitude")
        self.onesignal = create_sandbox("onesignal")
        self.urls = {
            name: stack.enter_context(serve_in_thread(getattr(self, name).app))
            for name in SANDBOXES
        }
        for email in (EMAIL, OTHER_EMAIL):
            self.marketo.state.create_lead({"email": email})
            self.hubspot.state.create({"email": email})
            self.klaviyo.state.upsert({"attributes": {"email": email}})
            self.mailchimp.state.upsert(
                self.mailchimp.config.lists[0],
                {"email_address": email, "status": "subscribed"},
                status_if_new=None,
            )
        self.braze._apply("attributes", {"external_id": USER_ID, "email": EMAIL, "plan": "pro"})
        self.braze._apply("attributes", {"external_id": OTHER_USER, "email": OTHER_EMAIL})
        for user_id, email in ((USER_ID, EMAIL), (OTHER_USER, OTHER_EMAIL)):
            self.amplitude._user({"user_id": user_id}).properties["email"] = email
            self.onesignal.add_user(user_id, tags={"email": email})

    def connections(self) -> list[dict[str, Any]]:
        return [
            {
                "name": "marketo",
                "connector": "marketo",
                "config": {"base_url": self.urls["marketo"]},
                "credentials": dict(MARKETO_CREDENTIALS),
            },
            {
                "name": "hubspot",
                "connector": "hubspot",
                "config": {"base_url": self.urls["hubspot"]},
                "credentials": dict(HUBSPOT_CREDENTIALS),
            },
            {
                "name": "braze",
                "connector": "braze",
                "config": {"instance_url": self.urls["braze"]},
                "credentials": {"api_key": BRAZE_KEY},
            },
            {
                "name": "klaviyo",
                "connector": "klaviyo",
                "config": {"base_url": self.urls["klaviyo"]},
                "credentials": {"api_key": KLAVIYO_KEY},
            },
            {
                "name": "mailchimp",
                "connector": "mailchimp",
                "config": {
                    "api_base_url": self.urls["mailchimp"] + "/3.0",
                    "list_id": self.mailchimp.config.lists[0],
                },
                "credentials": {"api_key": MAILCHIMP_KEY},
            },
            {
                "name": "amplitude",
                "connector": "amplitude",
                "config": {
                    "base_url": self.urls["amplitude"],
                    "privacy_url": self.urls["amplitude"],
                },
                "credentials": {"api_key": AMPLITUDE_KEY, "secret_key": AMPLITUDE_SECRET},
            },
            {
                "name": "onesignal",
                "connector": "onesignal",
                "config": {"base_url": self.urls["onesignal"], "app_id": ONESIGNAL_APP},
                "credentials": {"rest_api_key": ONESIGNAL_KEY},
            },
        ]

    def holding(self, email: str, user_id: str) -> list[str]:
        """The sandboxes that still hold someone by this email or user id."""
        held = []
        if any(lead.get("email") == email for lead in self.marketo.state.leads.values()):
            held.append("marketo")
        if self.hubspot.state.find("email", email) is not None:
            held.append("hubspot")
        if self.braze.user(user_id) is not None:
            held.append("braze")
        if self.klaviyo.profile_by_email(email) is not None:
            held.append("klaviyo")
        if self.mailchimp.member(email) is not None:
            held.append("mailchimp")
        if self.amplitude.user(user_id) is not None:
            held.append("amplitude")
        if self.onesignal.user(user_id) is not None:
            held.append("onesignal")
        return held


@pytest.fixture
def vendors() -> Iterator[Vendors]:
    with ExitStack() as stack:
        yield Vendors(stack)


def _track(base_url: str, write_key: str, batch: list[dict[str, Any]]) -> None:
    response = httpx.post(
        f"{base_url}/v1/batch", json={"batch": batch}, auth=(write_key, ""), timeout=30
    )
    assert response.status_code == 200, response.text


def _person_events(user_id: str, email: str, anonymous_id: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "identify",
            "userId": user_id,
            "anonymousId": anonymous_id,
            "traits": {"email": email, "plan": "pro", "nickname": f"nick-{user_id}"},
        },
        {
            "type": "track",
            "userId": user_id,
            "event": "Order Completed",
            "properties": {"contact": email, "total": 42},
        },
        {"type": "page", "anonymousId": anonymous_id, "name": "Pricing"},
    ]


PLAN_TRAITS = {"type": "object", "properties": {"plan": {"enum": ["free"]}}}


def _violations(admin: httpx.Client) -> list[dict[str, Any]]:
    listed = admin.get("/api/v1/violations", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    data: list[dict[str, Any]] = listed.json()["data"]
    return data


async def test_a_deleted_person_leaves_no_trace_in_renkei_or_any_sandbox(
    database_url: str, database: Database, vendors: Vendors
) -> None:
    with (
        Receiver() as receiver,
        running_hub(database_url, worker_poll_interval=0.05) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        for body in vendors.connections():
            created = admin.post("/api/v1/connections", json=body)
            assert created.status_code == 201, created.text
        endpoint = admin.post(
            "/api/v1/endpoints",
            json={"name": "crm", "url": receiver.url, "event_types": ["track", "identify"]},
        )
        assert endpoint.status_code == 201, endpoint.text
        flow = admin.post(
            "/api/v1/flows",
            json={
                "name": "orders",
                "trigger": {"event_types": ["track"]},
                "steps": [{"id": "send", "action": {"url": receiver.url}}],
            },
        )
        assert flow.status_code == 201, flow.text
        # A tracking plan their identify breaks: the violation's sample holds their traits.
        planned = admin.post(
            "/api/v1/event-types",
            json={"name": "identify", "schema": PLAN_TRAITS, "planned": True},
        )
        assert planned.status_code == 201, planned.text
        source = admin.post(
            "/api/v1/sources", json={"kind": "tracking", "name": "app", "plan_mode": "allow"}
        )
        assert source.status_code == 201, source.text
        write_key = source.json()["write_key"]
        # The person last: the sample a violation group keeps is its latest event's.
        _track(base_url, write_key, _person_events(OTHER_USER, OTHER_EMAIL, "anon-keep-1"))
        _track(base_url, write_key, _person_events(USER_ID, EMAIL, ANONYMOUS_ID))
        wait_until(lambda: EMAIL in str(_violations(admin)))
        # Deliveries (identify and track of both) and the flow's calls (track of both).
        wait_until(lambda: len(receiver.snapshot()) >= 6)
        profile = admin.get("/api/v1/profiles", params={"email": EMAIL}).json()["data"][0]

        exported = admin.get(f"/api/v1/profiles/{profile['id']}/export")
        assert exported.status_code == 200, exported.text
        document = exported.json()
        assert {(i["kind"], i["value"]) for i in document["identities"]} >= {
            ("email", EMAIL),
            ("user_id", USER_ID),
            ("anonymous_id", ANONYMOUS_ID),
        }
        assert document["traits"]["plan"]["value"] == "pro"
        assert [t["traits"]["plan"] for t in document["trait_history"]] == ["pro"]
        assert sorted(e["type"] for e in document["events"]) == ["identify", "page", "track"]

        started = admin.post("/api/v1/privacy-requests", json={"kind": "delete", "email": EMAIL})
        assert started.status_code == 201, started.text
        assert started.json()["status"] == "pending"
        finished = finished_request(admin, started.json()["id"])
        assert finished["status"] == "done", finished
        systems = finished["systems"]
        assert set(systems) == {"renkei", *SANDBOXES}
        assert {name: s["status"] for name, s in systems.items()} == dict.fromkeys(systems, "done")
        here = systems["renkei"]["counts"]
        assert here["profiles"] == 1 and here["events"] == 3
        assert here["deliveries"] == 2 and here["flow_runs"] == 1
        assert {name: systems[name]["deleted"] for name in systems if name != "renkei"} == {
            "marketo": 1,
            "hubspot": 1,
            "braze": 1,
            "klaviyo": 1,
            "mailchimp": 1,
            "amplitude": 1,
            "onesignal": 1,
        }
        assert systems["amplitude"]["asynchronous"] is True  # Amplitude runs the job later
        assert admin.get(f"/api/v1/profiles/{profile['id']}").status_code == 404
        # Their identify broke the plan's traits, their track is unplanned: both samples.
        assert here["violation_samples"] == 2
        violations = _violations(admin)
        assert {(v["event_type"], v["problem"]) for v in violations} == {
            ("identify", "enum"),
            ("track", "unplanned_event"),
        }
        assert [v["sample"] for v in violations] == [{"scrubbed": True}] * 2
        assert [v["count"] for v in violations] == [2, 2]  # the counts stay
        assert admin.get("/api/v1/profiles", params={"email": OTHER_EMAIL}).json()["data"]

        listed = admin.get("/api/v1/connections")
        assert listed.status_code == 200 and AMPLITUDE_SECRET not in listed.text
        audit = admin.get("/api/v1/audit").json()["data"]
        actions = [entry["action"] for entry in audit]
        assert "privacy.delete_requested" in actions and "privacy.delete_finished" in actions
        assert "privacy.exported" in actions

    assert vendors.holding(EMAIL, USER_ID) == []
    assert vendors.holding(OTHER_EMAIL, OTHER_USER) == list(SANDBOXES)
    dump = await dump_all_rows(database)
    for trace in (EMAIL, USER_ID, ANONYMOUS_ID, f"nick-{USER_ID}"):
        assert trace not in dump, trace
    assert AMPLITUDE_SECRET not in dump  # sealed at rest
    assert OTHER_EMAIL in dump  # the check can fail: someone else's rows are all there
    await database.dispose()
    assert_not_in_files(database_url, EMAIL, USER_ID, ANONYMOUS_ID, f"nick-{USER_ID}")
    files = sqlite_files(database_url)
    assert not files or any(OTHER_EMAIL.encode() in path.read_bytes() for path in files)
