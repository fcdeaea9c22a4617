"""``/api/v1/connections`` over real HTTP, with a worker running in the server and the
vendor sandboxes on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from renkei.sandbox import (
    HubSpotSandboxConfig,
    MarketoSandboxConfig,
    create_hubspot_app,
    create_marketo_app,
    serve_in_thread,
)
from renkei.store import Database
from tests.support.rawscan import assert_not_stored
from tests.support.server import admin_client, running_hub

from .harness import HUBSPOT_CREDENTIALS, MARKETO_CREDENTIALS

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def marketo_url() -> Iterator[str]:
    sandbox = create_marketo_app(MarketoSandboxConfig(seed_leads=3, seed_activities=40))
    with serve_in_thread(sandbox.app) as base_url:
        yield base_url


@pytest.fixture
def hubspot_url() -> Iterator[str]:
    with serve_in_thread(create_hubspot_app(HubSpotSandboxConfig()).app) as base_url:
        yield base_url


@pytest.fixture
def api(database_url: str) -> Iterator[httpx.Client]:
    with (
        running_hub(database_url, connector_batch_wait_seconds=0.1) as (base_url, _),
        admin_client(base_url) as client,
    ):
        yield client


def _marketo(base: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "marketo",
        "connector": "marketo",
        "config": {"base_url": base},
        "credentials": dict(MARKETO_CREDENTIALS),
        **extra,
    }


def _wait_done(api: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.get(path).json()
        if body["done"]:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} did not finish")


async def test_connections_are_created_listed_changed_and_deleted_without_showing_secrets(
    api: httpx.Client, marketo_url: str, database: Database
) -> None:
    created = api.post("/api/v1/connections", json=_marketo(marketo_url))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("conn_")
    assert body["credentials_set"] == ["client_id", "client_secret"]
    assert body["status"] == "active"
    assert MARKETO_CREDENTIALS["client_secret"] not in created.text

    listed = api.get("/api/v1/connections")
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["data"]] == ["marketo"]
    assert listed.json()["next_cursor"] is None
    assert MARKETO_CREDENTIALS["client_secret"] not in listed.text
    assert api.get("/api/v1/connections/marketo").json()["id"] == body["id"]
    assert api.get(f"/api/v1/connections/{body['id']}").json()["name"] == "marketo"

    duplicate = api.post("/api/v1/connections", json=_marketo(marketo_url))
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "conflict"
    missing = api.post(
        "/api/v1/connections",
        json={**_marketo(marketo_url, name="other"), "credentials": {"client_id": "x"}},
    )
    assert missing.status_code == 422
    assert "client_secret" in missing.json()["error"]["message"]
    bad_limits = api.post(
        "/api/v1/connections",
        json=_marketo(marketo_url, name="other", limits={"daily_quota": {"calls": 0}}),
    )
    assert bad_limits.status_code == 422
    assert bad_limits.json()["error"]["code"] == "invalid_limits"
    unknown = api.post(
        "/api/v1/connections", json={**_marketo(marketo_url, name="x"), "connector": "nope"}
    )
    assert unknown.status_code == 422

    rotated = "rotated-secret-0123456789"
    patched = api.patch(
        f"/api/v1/connections/{body['id']}",
        json={"credentials": {"client_secret": rotated}, "limits": {"batch_size": 50}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["limits"] == {"batch_size": 50}
    assert rotated not in patched.text
    await assert_not_stored(database, MARKETO_CREDENTIALS["client_secret"], rotated)

    assert api.delete(f"/api/v1/connections/{body['id']}").status_code == 204
    assert api.get(f"/api/v1/connections/{body['id']}").status_code == 404
    assert api.delete(f"/api/v1/connections/{body['id']}").status_code == 404
    audit = api.get("/api/v1/audit").text
    assert rotated not in audit


def test_list_pages_with_a_cursor(api: httpx.Client, hubspot_url: str) -> None:
    for n in range(5):
        response = api.post(
            "/api/v1/connections",
            json={
                "name": f"hs{n}",
                "connector": "hubspot",
                "config": {"base_url": hubspot_url},
                "credentials": HUBSPOT_CREDENTIALS,
            },
        )
        assert response.status_code == 201
    first = api.get("/api/v1/connections", params={"limit": 3}).json()
    second = api.get(
        "/api/v1/connections", params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    names = [c["name"] for c in first["data"] + second["data"]]
    assert names == [f"hs{n}" for n in range(5)]
    assert second["next_cursor"] is None


def test_test_call_usage_and_a_failing_credential(api: httpx.Client, marketo_url: str) -> None:
    connection = api.post("/api/v1/connections", json=_marketo(marketo_url)).json()
    tested = api.post(f"/api/v1/connections/{connection['id']}/test")
    assert tested.status_code == 200
    assert tested.json()["ok"] is True
    assert tested.json()["details"]["lead_fields"] > 20

    usage = api.get(f"/api/v1/connections/{connection['id']}/usage").json()
    assert usage["daily_quota"]["used"] == 1
    assert usage["daily_quota"]["limit"] == 50_000
    assert usage["daily_quota"]["timezone"] == "America/Chicago"
    assert usage["rate_limit"]["default"]["in_window"] == 1
    assert usage["rate_limit"]["default"]["calls"] == 100

    api.patch(
        f"/api/v1/connections/{connection['id']}",
        json={"credentials": {"client_secret": "wrong-secret"}},
    )
    failing = api.post(f"/api/v1/connections/{connection['id']}/test").json()
    assert failing["ok"] is False
    assert failing["error"]["kind"] == "ConfigurationError"
    assert "wrong-secret" not in str(failing)
    shown = api.get(f"/api/v1/connections/{connection['id']}").json()
    assert shown["status"] == "failing"

    api.patch(
        f"/api/v1/connections/{connection['id']}",
        json={"credentials": {"client_secret": MARKETO_CREDENTIALS["client_secret"]}},
    )
    assert api.post(f"/api/v1/connections/{connection['id']}/test").json()["ok"] is True
    assert api.get(f"/api/v1/connections/{connection['id']}").json()["status"] == "active"


def test_records_submitted_over_the_api_are_sent_by_the_worker(
    api: httpx.Client, hubspot_url: str
) -> None:
    api.post(
        "/api/v1/connections",
        json={
            "name": "hubspot",
            "connector": "hubspot",
            "config": {"base_url": hubspot_url},
            "credentials": HUBSPOT_CREDENTIALS,
        },
    )
    records = [{"email": f"api{n}@example.com", "firstname": "Api"} for n in range(150)]
    records.append({"email": "broken"})
    submitted = api.post(
        "/api/v1/connections/hubspot/submissions",
        json={"operation": "upsert_contacts", "records": records},
    )
    assert submitted.status_code == 202, submitted.text
    outcome = _wait_done(api, f"/api/v1/connections/hubspot/submissions/{submitted.json()['id']}")
    assert outcome["counts"]["ok"] == 150
    assert outcome["records"][150]["error"]["code"] == "invalid_input"

    bad = api.post(
        "/api/v1/connections/hubspot/submissions",
        json={"operation": "no_such_thing", "records": [{}]},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_operation"
    assert api.get("/api/v1/connections/hubspot/submissions/sub_unknown").status_code == 404

    read = api.post(
        "/api/v1/connections/hubspot/call",
        json={"operation": "read_contacts", "input": {"since": 0}},
    )
    assert read.status_code == 200, read.text
    assert len(read.json()["data"]["records"]) == 150
    invalid = api.post(
        "/api/v1/connections/hubspot/call",
        json={"operation": "read_contacts", "input": {"since": 0, "bogus": 1}},
    )
    assert invalid.status_code == 422


def test_direct_reads_from_marketo(api: httpx.Client, marketo_url: str) -> None:
    api.post("/api/v1/connections", json=_marketo(marketo_url))
    read = api.post(
        "/api/v1/connections/marketo/call",
        json={
            "operation": "read_activities",
            "input": {"since": "2020-01-01T00:00:00Z", "activity_type_ids": [1]},
        },
    )
    assert read.status_code == 200, read.text
    assert len(read.json()["data"]["records"]) == 40
