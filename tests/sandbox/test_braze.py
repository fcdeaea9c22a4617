"""The Braze sandbox through real HTTP on loopback, time moved by a ManualClock."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renkei.clock import ManualClock
from renkei.sandbox import SANDBOX_NAMES, connection_help, create_sandbox
from renkei.sandbox.braze import DEFAULT_API_KEY, BrazeSandbox, BrazeSandboxConfig

from .vendor_clients import client_for

Start = Callable[..., tuple[BrazeSandbox, httpx.Client]]
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


@pytest.fixture
def braze(clock: ManualClock, exit_stack: contextlib.ExitStack) -> Start:
    def start(**config: Any) -> tuple[BrazeSandbox, httpx.Client]:
        sandbox, client, _ = client_for(
            exit_stack, BrazeSandbox(BrazeSandboxConfig(**config), clock), headers=AUTH
        )
        return sandbox, client

    return start


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {"external_id": f"u{n}", "name": "played", "time": "2026-01-01T00:00:00Z", **extra}


def test_the_rest_key_is_required(braze: Start) -> None:
    sandbox, http = braze()
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}):
        response = http.post("/users/track", json={"events": [event(1)]}, headers=headers)
        assert response.status_code == 401
        assert "REST API key" in response.json()["message"]
    assert sandbox.users == {} and sandbox.track_requests == 0


def test_success_is_201_with_processed_counts_and_non_fatal_errors(braze: Start) -> None:
    sandbox, http = braze()
    body = {
        "attributes": [{"external_id": "u1", "plan": "pro"}, {"plan": "anonymous"}],
        "events": [
            event(1),
            event(2, time="last tuesday"),
            {"external_id": "u3", "time": "2026-01-01"},
        ],
        "purchases": [
            {
                "external_id": "u1",
                "product_id": "p",
                "currency": "USD",
                "price": 1,
                "time": "2026-01-01T00:00:00Z",
            },
            {
                "external_id": "u1",
                "product_id": "p",
                "currency": "DOLLARS",
                "price": 1,
                "time": "2026-01-01T00:00:00Z",
            },
        ],
    }
    response = http.post("/users/track", json=body)
    assert response.status_code == 201
    answer = response.json()
    assert answer["message"] == "success"
    assert (
        answer["attributes_processed"],
        answer["events_processed"],
        answer["purchases_processed"],
    ) == (1, 1, 1)
    where = [(e["input_array"], e["index"]) for e in answer["errors"]]
    assert where == [("attributes", 1), ("events", 1), ("events", 2), ("purchases", 1)]
    assert "'name' is required" in answer["errors"][2]["type"]
    user = sandbox.user("u1")
    assert user is not None and user.attributes == {"plan": "pro"} and len(user.purchases) == 1


def test_fatal_errors(braze: Start) -> None:
    sandbox, http = braze()
    empty = http.post("/users/track", json={})
    assert empty.status_code == 400 and "Valid data must be provided" in empty.json()["message"]
    assert http.post("/users/track", content=b"{not json").status_code == 400
    assert http.post("/users/export/ids", json={}).status_code == 404
    assert sandbox.violations == []


def test_more_than_75_objects_of_a_kind_is_refused_and_recorded(braze: Start) -> None:
    sandbox, http = braze()
    ok = http.post(
        "/users/track",
        json={
            "events": [event(n) for n in range(75)],
            "attributes": [{"external_id": f"u{n}"} for n in range(75)],
        },
    )
    assert ok.status_code == 201
    too_many = http.post("/users/track", json={"events": [event(n) for n in range(76)]})
    assert too_many.status_code == 400
    assert [(v.kind, v.endpoint) for v in sandbox.violations] == [
        ("batch_size", "POST /users/track")
    ]


def test_combined_mode_caps_the_total(braze: Start) -> None:
    sandbox, http = braze(object_limit_mode="combined")
    body = {
        "attributes": [{"external_id": f"u{n}"} for n in range(40)],
        "events": [event(n) for n in range(40)],
    }
    assert http.post("/users/track", json=body).status_code == 400
    assert [v.kind for v in sandbox.violations] == ["batch_size"]


def test_the_rate_window_answers_headers_and_429(braze: Start, clock: ManualClock) -> None:
    sandbox, http = braze(rate_limit=3, rate_window_seconds=3.0)
    reset = str(int(clock.time()) + 3)
    remaining = []
    for n in range(3):
        response = http.post("/users/track", json={"events": [event(n)]})
        assert response.status_code == 201
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Reset"] == reset
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = http.post("/users/track", json={"events": [event(9)]})
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert [v.kind for v in sandbox.violations] == ["rate_limit"]
    clock.advance(3)
    assert http.post("/users/track", json={"events": [event(9)]}).status_code == 201
    assert len(sandbox.events) == 4


def test_faults_and_the_sandbox_registry(braze: Start) -> None:
    sandbox, http = braze()
    sandbox.fail_next(1, 503)
    assert http.post("/users/track", json={"events": [event(1)]}).status_code == 503
    assert http.post("/users/track", json={"events": [event(1)]}).status_code == 201
    assert {"braze", "mailchimp", "klaviyo", "slack", "marketo", "hubspot"} <= set(SANDBOX_NAMES)
    made = create_sandbox("braze", ManualClock(), rate_limit=5)
    assert isinstance(made, BrazeSandbox) and made.config.rate_limit == 5
    assert "instance_url: http://127.0.0.1:9" in connection_help(made, "http://127.0.0.1:9")
