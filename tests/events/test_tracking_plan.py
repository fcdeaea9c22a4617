"""The tracking plan on ingest (issue 20): planned event types, a plan mode per tracking
source, and the violations it records. Real HTTP on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from typing import Any

import httpx
import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from renkei.hub import Hub
from renkei.usecases import LOCAL, webhooks
from tests.events.conftest import assert_error, query
from tests.events.test_sdks_default_config import NODE_DIR
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as hub_settings

ORDER_SCHEMA = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}},
    "additionalProperties": False,
}
TRAITS_SCHEMA = {"type": "object", "properties": {"plan": {"enum": ["free", "pro"]}}}


def _plan(admin: httpx.Client) -> None:
    for name, schema in (("Order Completed", ORDER_SCHEMA), ("identify", TRAITS_SCHEMA)):
        created = admin.post(
            "/api/v1/event-types", json={"name": name, "schema": schema, "planned": True}
        )
        assert created.status_code == 201, created.text
        assert created.json()["planned"] is True


def _source(admin: httpx.Client, mode: str | None) -> tuple[str, str]:
    body: dict[str, Any] = {"kind": "tracking", "name": f"app-{mode}"}
    if mode is not None:
        body["plan_mode"] = mode
    created = admin.post("/api/v1/sources", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["plan_mode"] == mode
    return created.json()["id"], created.json()["write_key"]


def _track(message_id: str, event: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message_id,
        "userId": "u-1",
        "event": event,
        "properties": properties,
    }


MIXED_BATCH = [
    _track("good", "Order Completed", {"amount": 10, "currency": "EUR"}),
    _track("bad-1", "Order Completed", {"amount": "ten", "currency": "EUR", "coupon": "X"}),
    _track("bad-2", "Order Completed", {"amount": "eleven", "currency": "EUR"}),
    _track("unplanned", "Order Complted", {"amount": 10}),
    {"type": "identify", "messageId": "who", "userId": "u-1", "traits": {"plan": "gold", "n": 1}},
    {"type": "page", "messageId": "page", "userId": "u-1", "name": "Home"},
]


def _send(base_url: str, write_key: str, batch: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{base_url}/v1/batch", json={"batch": batch}, auth=(write_key, ""))
    # Whatever the plan did, the sender is told success, as Segment Protocols does.
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}


def _stored(admin: httpx.Client, source_id: str) -> dict[str, dict[str, Any]]:
    events = admin.get("/api/v1/events", params={"limit": 100}).json()["data"]
    return {event["id"]: event["data"] for event in events if event["source_id"] == source_id}


def _violations(admin: httpx.Client, source: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    listed = admin.get("/api/v1/violations", params={"source": source})
    assert listed.status_code == 200, listed.text
    return {
        (row["event_type"], row["event_name"], row["problem"], row["path"]): row
        for row in listed.json()["data"]
    }


EXPECTED_GROUPS = {
    ("track", "Order Completed", "type", "properties.amount"): 2,
    ("track", "Order Completed", "additionalProperties", "properties.coupon"): 1,
    ("track", "Order Complted", "unplanned_event", "event"): 1,
    ("identify", None, "enum", "traits.plan"): 1,
}


@pytest.mark.parametrize(
    ("mode", "kept", "action"),
    [
        ("allow", {"good", "bad-1", "bad-2", "unplanned", "who", "page"}, "allowed"),
        ("omit_properties", {"good", "bad-1", "bad-2", "unplanned", "who", "page"}, "omitted"),
        ("block", {"good", "page"}, "blocked"),
    ],
)
def test_each_mode_stores_trims_or_drops_and_records_the_violations(
    served: tuple[str, Hub], admin: httpx.Client, mode: str, kept: set[str], action: str
) -> None:
    base_url, _ = served
    _plan(admin)
    source_id, write_key = _source(admin, mode)
    _send(base_url, write_key, MIXED_BATCH)

    stored = _stored(admin, source_id)
    assert set(stored) == kept
    assert stored["good"]["properties"] == {"amount": 10, "currency": "EUR"}
    assert stored["page"]["name"] == "Home"  # page calls are never checked
    if mode == "allow":
        assert stored["bad-1"]["properties"] == {"amount": "ten", "currency": "EUR", "coupon": "X"}
        assert stored["who"]["traits"] == {"plan": "gold", "n": 1}
    if mode == "omit_properties":
        assert stored["bad-1"]["properties"] == {"currency": "EUR"}
        assert stored["bad-2"]["properties"] == {"currency": "EUR"}
        assert stored["unplanned"]["properties"] == {}  # nothing in the plan vouches for them
        assert stored["who"]["traits"] == {"n": 1}  # traits the schema allows stay

    groups = _violations(admin, source_id)
    assert {key: row["count"] for key, row in groups.items()} == EXPECTED_GROUPS
    for row in groups.values():
        assert row["action"] == action
        assert row["source_id"] == source_id
        assert row["first_seen"] <= row["last_seen"]
    amount = groups[("track", "Order Completed", "type", "properties.amount")]
    assert amount["sample"] == {
        "event_id": "bad-2",
        "properties": {"amount": "eleven", "currency": "EUR"},
    }
    assert "is not of type" in amount["message"]


def test_counts_add_up_across_requests_in_one_row_per_group(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    base_url, _ = served
    _plan(admin)
    _, write_key = _source(admin, "allow")
    for round_ in range(3):
        batch = [_track(f"m-{round_}-{i}", "Sign Up", {}) for i in range(4)]
        _send(base_url, write_key, batch)
        admin.get("/api/v1/violations")  # written now: the next round upserts the same row
    groups = _violations(admin, "app-allow")  # by name as well as by id
    assert {key: row["count"] for key, row in groups.items()} == {
        ("track", "Sign Up", "unplanned_event", "event"): 12
    }
    rows = query(database_url, "SELECT count(*), sum(count) FROM plan_violations")
    assert tuple(rows[0]) == (1, 12)


def test_a_source_without_a_plan_mode_checks_nothing(
    served: tuple[str, Hub], admin: httpx.Client
) -> None:
    base_url, _ = served
    _plan(admin)
    source_id, write_key = _source(admin, None)
    _send(base_url, write_key, MIXED_BATCH)
    assert len(_stored(admin, source_id)) == len(MIXED_BATCH)
    assert _violations(admin, source_id) == {}


def test_the_mode_and_the_plan_apply_at_once_when_changed(
    served: tuple[str, Hub], admin: httpx.Client
) -> None:
    base_url, _ = served
    source_id, write_key = _source(admin, None)
    changed = admin.patch(f"/api/v1/sources/{source_id}", json={"plan_mode": "block"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["plan_mode"] == "block"
    _send(base_url, write_key, [_track("first", "Signed Up", {"via": "ad"})])
    assert "first" not in _stored(admin, source_id)  # unplanned: blocked

    created = admin.post("/api/v1/event-types", json={"name": "Signed Up", "planned": True})
    assert created.status_code == 201, created.text
    _send(base_url, write_key, [_track("second", "Signed Up", {"via": "ad"})])
    assert "second" in _stored(admin, source_id)  # planned without a schema: any properties

    unplanned = admin.patch("/api/v1/event-types/Signed Up", json={"planned": False})
    assert unplanned.json()["planned"] is False
    _send(base_url, write_key, [_track("third", "Signed Up", {})])
    assert "third" not in _stored(admin, source_id)

    off = admin.patch(f"/api/v1/sources/{source_id}", json={"plan_mode": None})
    assert off.json()["plan_mode"] is None
    _send(base_url, write_key, [_track("fourth", "Signed Up", {})])
    assert "fourth" in _stored(admin, source_id)
    assert (
        _violations(admin, source_id)[("track", "Signed Up", "unplanned_event", "event")]["count"]
        == 2
    )


def test_group_traits_are_checked_when_group_is_planned(
    served: tuple[str, Hub], admin: httpx.Client
) -> None:
    base_url, _ = served
    schema = {"type": "object", "required": ["name"]}
    admin.post("/api/v1/event-types", json={"name": "group", "schema": schema, "planned": True})
    source_id, write_key = _source(admin, "block")
    _send(
        base_url,
        write_key,
        [
            {
                "type": "group",
                "messageId": "g-ok",
                "userId": "u",
                "groupId": "c",
                "traits": {"name": "A"},
            },
            {"type": "group", "messageId": "g-bad", "userId": "u", "groupId": "c", "traits": {}},
            # identify is not planned here: it passes unchecked
            {"type": "identify", "messageId": "i", "userId": "u", "traits": {"x": 1}},
        ],
    )
    assert set(_stored(admin, source_id)) == {"g-ok", "i"}
    assert set(_violations(admin, source_id)) == {("group", None, "required", "traits.name")}


def test_a_plan_changed_by_another_process_applies_after_the_refresh(
    database_url: str,
) -> None:
    """Another API node (here a second hub on the same database) plans a type: this one
    sees it at its next version check (immediately with a 0 s cache)."""
    with (
        running_hub(database_url, ingest_source_cache_seconds=0) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        source_id, write_key = _source(admin, "block")
        _send(base_url, write_key, [_track("before", "Signed Up", {})])
        assert "before" not in _stored(admin, source_id)

        async def plan_elsewhere() -> None:
            other = Hub(hub_settings(database_url))
            try:
                await webhooks.create_event_type(other, LOCAL, name="Signed Up", planned=True)
            finally:
                await other.database.dispose()

        asyncio.run(plan_elsewhere())
        _send(base_url, write_key, [_track("after", "Signed Up", {})])
        assert "after" in _stored(admin, source_id)


def test_an_omitted_email_trait_no_longer_names_the_person(
    served: tuple[str, Hub], admin: httpx.Client
) -> None:
    base_url, _ = served
    schema = {"type": "object", "properties": {"email": {"type": "string", "pattern": "@"}}}
    admin.post("/api/v1/event-types", json={"name": "identify", "schema": schema, "planned": True})
    _, write_key = _source(admin, "omit_properties")
    traits = {"email": "not an address", "plan": "pro"}
    _send(
        base_url,
        write_key,
        [{"type": "identify", "messageId": "who", "userId": "u-7", "traits": traits}],
    )
    stored = admin.get("/api/v1/events/who").json()
    assert stored["data"]["traits"] == {"plan": "pro"}
    assert stored["email"] is None
    profile = admin.get("/api/v1/profiles", params={"user_id": "u-7"}).json()["data"][0]
    assert "email" not in {identity["kind"] for identity in profile["identities"]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "tracking", "name": "x", "plan_mode": "strict"}, "validation_failed"),
        ({"kind": "tracking", "name": "x", "plan_mode": ""}, "validation_failed"),
        ({"kind": "tracking", "name": "x", "plan_mode": 1}, "validation_failed"),
        ({"kind": "webhook", "name": "x", "plan_mode": "block"}, "invalid_source"),
    ],
)
def test_a_bad_plan_mode_is_a_422_and_creates_nothing(
    admin: httpx.Client, body: dict[str, Any], code: str
) -> None:
    assert_error(admin.post("/api/v1/sources", json=body), 422, code)
    assert admin.get("/api/v1/sources").json()["data"] == []


def _blocked_by_default_sdk(admin: httpx.Client, source_id: str, run: str) -> None:
    """The SDK sent identify/track/page/group/alias; only track broke the plan."""
    stored = admin.get("/api/v1/events", params={"limit": 100}).json()["data"]
    mine = [event for event in stored if event["source_id"] == source_id]
    assert sorted(event["type"] for event in mine) == ["alias", "group", "identify", "page"]
    groups = _violations(admin, source_id)
    assert list(groups) == [("track", "Order Completed", "unplanned_event", "event")]
    assert groups[("track", "Order Completed", "unplanned_event", "event")]["action"] == "blocked"
    assert run in str(groups[("track", "Order Completed", "unplanned_event", "event")]["sample"])


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_python_sdks_see_a_blocked_event_as_delivered(
    served: tuple[str, Hub], admin: httpx.Client, sdk: str
) -> None:
    base_url, _ = served
    source_id, write_key = _source(admin, "block")
    errors: list[Any] = []
    make = SegmentClient if sdk == "segment" else RudderClient
    client = make(write_key, host=base_url, on_error=lambda error, items: errors.append(error))
    run = uuid.uuid4().hex[:8]
    client.identify(f"{run}-user", {"plan": "pro"})
    client.track(f"{run}-user", "Order Completed", {"run": run})
    client.page(anonymous_id=f"{run}-anon", name="Pricing")
    client.group(f"{run}-user", f"{run}-company", {"name": "Initech"})
    client.alias(f"{run}-anon", f"{run}-user")
    client.flush()
    client.shutdown()
    assert errors == []
    _blocked_by_default_sdk(admin, source_id, run)


def test_the_node_sdk_sees_a_blocked_event_as_delivered(
    served: tuple[str, Hub], admin: httpx.Client
) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the Node SDK tests"
    assert (NODE_DIR / "node_modules").is_dir(), "run: npm ci --prefix tests/sdks/node"
    base_url, _ = served
    source_id, write_key = _source(admin, "block")
    run = uuid.uuid4().hex[:8]
    # drive.cjs exits non-zero if the SDK reports any error for what it sent.
    finished = subprocess.run(
        [node, str(NODE_DIR / "drive.cjs"), "segment", base_url, write_key, run],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    sample = _violations(admin, source_id)[("track", "Order Completed", "unplanned_event", "event")]
    assert sample["sample"]["properties"] == {"total": 12.5}
    _blocked_by_default_sdk(admin, source_id, "")
