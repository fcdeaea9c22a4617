"""The Klaviyo sandbox through real HTTP on loopback; its answers are checked against
Klaviyo's published OpenAPI files, and it refuses what they refuse."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest

from renkei.clock import ManualClock
from renkei.sandbox.klaviyo import DEFAULT_API_KEY, REVISION, KlaviyoSandbox, KlaviyoSandboxConfig
from tests.connectors.klaviyo_spec import validate_body, validate_response

from .vendor_clients import client_for

Start = Callable[..., tuple[KlaviyoSandbox, httpx.Client]]
HEADERS = {
    "Authorization": f"Klaviyo-API-Key {DEFAULT_API_KEY}",
    "revision": REVISION,
    "Content-Type": "application/vnd.api+json",
    "Accept": "application/vnd.api+json",
}


@pytest.fixture
def klaviyo(clock: ManualClock, exit_stack: contextlib.ExitStack) -> Start:
    def start(**config: Any) -> tuple[KlaviyoSandbox, httpx.Client]:
        sandbox, client, _ = client_for(
            exit_stack, KlaviyoSandbox(KlaviyoSandboxConfig(**config), clock), headers=HEADERS
        )
        return sandbox, client

    return start


def profile_import(email: str, **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": {"email": email, **attributes}}}


def test_auth_revision_and_media_type(klaviyo: Start) -> None:
    sandbox, http = klaviyo()
    body = profile_import("a@example.com")
    missing = http.post("/api/profile-import", json=body, headers={"Authorization": ""})
    assert missing.status_code == 401 and missing.json()["errors"][0]["code"] == "not_authenticated"
    wrong = http.post(
        "/api/profile-import", json=body, headers={"Authorization": "Klaviyo-API-Key pk_x"}
    )
    assert wrong.json()["errors"][0]["code"] == "authentication_failed"
    no_revision = http.post("/api/profile-import", json=body, headers={"revision": ""})
    assert no_revision.status_code == 400
    form = http.post(
        "/api/profile-import",
        data={"x": "1"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415
    assert sandbox.profiles == {}


def test_answers_match_the_published_spec(klaviyo: Start) -> None:
    _, http = klaviyo(seed_profiles=3)
    created = http.post(
        "/api/profile-import", json=profile_import("new@example.com", properties={"a": 1})
    )
    assert created.status_code == 201
    validate_response("POST", "/api/profile-import", 201, created.json())
    updated = http.post(
        "/api/profile-import", json=profile_import("new@example.com", first_name="N")
    )
    assert updated.status_code == 200
    validate_response("POST", "/api/profile-import", 200, updated.json())
    listing = http.get("/api/profiles", params={"page[size]": 2, "sort": "updated"})
    validate_response("GET", "/api/profiles", 200, listing.json())
    bulk = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": [profile_import("b@example.com")["data"]]}},
        }
    }
    validate_body("POST", "/api/profile-bulk-import-jobs", bulk)
    job = http.post("/api/profile-bulk-import-jobs", json=bulk)
    assert job.status_code == 202
    validate_response("POST", "/api/profile-bulk-import-jobs", 202, job.json())


def test_what_the_spec_refuses_the_sandbox_refuses(klaviyo: Start) -> None:
    _, http = klaviyo()
    no_type = {"data": {"attributes": {"email": "a@example.com"}}}
    with pytest.raises(jsonschema.ValidationError):
        validate_body("POST", "/api/profile-import", no_type)
    assert http.post("/api/profile-import", json=no_type).status_code in (400, 409)
    event_without_properties = {
        "data": {
            "type": "event",
            "attributes": {
                "metric": {"data": {"type": "metric", "attributes": {"name": "X"}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}},
            },
        }
    }
    with pytest.raises(jsonschema.ValidationError):
        validate_body("POST", "/api/events", event_without_properties)
    assert http.post("/api/events", json=event_without_properties).status_code == 400
    event_without_properties["data"]["attributes"]["properties"] = {}  # type: ignore[index]
    validate_body("POST", "/api/events", event_without_properties)
    assert http.post("/api/events", json=event_without_properties).status_code == 202


def test_burst_and_steady_windows(klaviyo: Start, clock: ManualClock) -> None:
    sandbox, http = klaviyo(rate_limits={"profile_import": (2, 3)})
    ok = [
        http.post("/api/profile-import", json=profile_import(f"p{n}@example.com")) for n in range(2)
    ]
    assert [r.status_code for r in ok] == [201, 201]
    assert ok[1].headers["RateLimit-Limit"] == "3" and ok[1].headers["RateLimit-Remaining"] == "1"
    burst = http.post("/api/profile-import", json=profile_import("p3@example.com"))
    assert burst.status_code == 429 and burst.headers["Retry-After"] == "1"
    assert burst.json()["errors"][0]["code"] == "throttled"
    assert "RateLimit-Remaining" not in burst.headers
    clock.advance(1)
    assert (
        http.post("/api/profile-import", json=profile_import("p3@example.com")).status_code == 201
    )
    clock.advance(1)
    steady = http.post("/api/profile-import", json=profile_import("p4@example.com"))
    assert steady.status_code == 429 and int(steady.headers["Retry-After"]) == 58
    assert [v.detail for v in sandbox.violations] == ["burst limit 2", "steady limit 3"]
    # Other endpoints have windows of their own.
    assert http.get("/api/profiles").status_code == 200


def test_paging_follows_links_next(klaviyo: Start) -> None:
    sandbox, http = klaviyo(seed_profiles=7)
    seen: list[str] = []
    url: str | None = "/api/profiles?page[size]=3&sort=-updated"
    while url:
        page = http.get(url).json()
        seen += [p["id"] for p in page["data"]]
        url = page["links"].get("next")
    assert len(seen) == 7 == len(set(seen))
    assert http.get("/api/profiles", params={"page[size]": 101}).status_code == 400
    assert [v.kind for v in sandbox.violations] == ["page_size"]
    after = http.get(
        "/api/profiles", params={"filter": "greater-than(updated,2025-12-31T23:59:57Z)"}
    )
    assert len(after.json()["data"]) == 3  # updated at -2, -1 and 0 s


def test_bulk_jobs_limits_and_errors(klaviyo: Start) -> None:
    sandbox, http = klaviyo(bulk_max_profiles=3, bulk_job_polls=1)
    profiles = [profile_import(f"b{n}@example.com")["data"] for n in range(3)]
    profiles[1]["attributes"]["email"] = "nope"
    body = {
        "data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}
    }
    job = http.post("/api/profile-bulk-import-jobs", json=body).json()["data"]
    assert job["attributes"]["status"] == "queued"
    status = http.get(f"/api/profile-bulk-import-jobs/{job['id']}").json()["data"]["attributes"]
    assert (status["status"], status["completed_count"], status["failed_count"]) == (
        "complete",
        2,
        1,
    )
    errors = http.get(f"/api/profile-bulk-import-jobs/{job['id']}/import-errors").json()["data"]
    assert errors[0]["attributes"]["source"]["pointer"] == "/data/attributes/profiles/data/1"
    body["data"]["attributes"]["profiles"]["data"] = profiles * 2  # type: ignore[index]
    assert http.post("/api/profile-bulk-import-jobs", json=body).status_code == 400
    assert [v.kind for v in sandbox.violations] == ["batch_size"]
