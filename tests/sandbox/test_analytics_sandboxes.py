"""The GA4, Amplitude and OneSignal sandboxes through real HTTP on loopback, spoken to as
the vendors document (no Renkei connector in between), time moved by a ManualClock."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest

from renkei.clock import ManualClock
from renkei.sandbox.amplitude import DEFAULT_API_KEY as AMPLITUDE_KEY
from renkei.sandbox.amplitude import DEFAULT_SECRET_KEY as AMPLITUDE_SECRET
from renkei.sandbox.amplitude import AmplitudeSandbox, AmplitudeSandboxConfig
from renkei.sandbox.ga4 import (
    DEFAULT_API_SECRET,
    DEFAULT_MEASUREMENT_ID,
    GA4Sandbox,
    GA4SandboxConfig,
)
from renkei.sandbox.onesignal import DEFAULT_API_KEY as ONESIGNAL_KEY
from renkei.sandbox.onesignal import DEFAULT_APP_ID, OneSignalSandbox, OneSignalSandboxConfig

from .vendor_clients import client_for

STREAM = {"measurement_id": DEFAULT_MEASUREMENT_ID, "api_secret": DEFAULT_API_SECRET}


# --- GA4 ---------------------------------------------------------------------------------


@pytest.fixture
def ga4(clock: ManualClock, exit_stack: contextlib.ExitStack) -> tuple[GA4Sandbox, httpx.Client]:
    sandbox, client, _ = client_for(exit_stack, GA4Sandbox(GA4SandboxConfig(), clock))
    return sandbox, client


@pytest.mark.parametrize(
    ("event", "path", "code"),
    [
        ({"name": "session_start"}, "events[0].name", "NAME_RESERVED"),
        ({"name": "2fast"}, "events[0].name", "NAME_INVALID"),
        ({"name": "x" * 41}, "events[0].name", "NAME_INVALID"),
        ({"name": "buy", "params": {"google_x": 1}}, "events[0].params.google_x", "NAME_RESERVED"),
        ({"name": "buy", "params": {"v": "x" * 101}}, "events[0].params.v", "VALUE_OUT_OF_BOUNDS"),
        (
            {"name": "buy", "params": {f"p{n}": n for n in range(26)}},
            "events[0].params",
            "EXCEEDED_MAX_ENTITIES",
        ),
    ],
)
def test_the_validation_server_names_what_ga4_would_drop(
    ga4: tuple[GA4Sandbox, httpx.Client], event: dict[str, object], path: str, code: str
) -> None:
    sandbox, http = ga4
    body = {"client_id": "1.2", "events": [event]}
    answer = http.post("/debug/mp/collect", params=STREAM, json=body)
    assert answer.status_code == 200
    [message] = answer.json()["validationMessages"]
    assert (message["fieldPath"], message["validationCode"]) == (path, code)
    collected = http.post("/mp/collect", params=STREAM, json=body)
    assert collected.status_code == 204 and collected.content == b""  # 2xx, dropped
    assert sandbox.events == [] and len(sandbox.dropped) == 1


def test_collect_keeps_the_good_events_of_a_request(ga4: tuple[GA4Sandbox, httpx.Client]) -> None:
    sandbox, http = ga4
    body = {"client_id": "1.2", "events": [{"name": "buy"}, {"name": "first_visit"}]}
    assert http.post("/mp/collect", params=STREAM, json=body).status_code == 204
    assert [e["name"] for e in sandbox.events] == ["buy"]
    assert http.post("/mp/collect", params={**STREAM, "api_secret": "x"}, json=body).is_success
    assert len(sandbox.events) == 1  # a wrong secret: dropped without a word
    too_many = {"client_id": "1.2", "events": [{"name": "buy"}] * 26}
    assert http.post("/mp/collect", params=STREAM, json=too_many).status_code == 204
    assert [v.kind for v in sandbox.violations] == ["batch_size"] and len(sandbox.events) == 1


# --- Amplitude ---------------------------------------------------------------------------


@pytest.fixture
def amplitude(
    clock: ManualClock, exit_stack: contextlib.ExitStack
) -> tuple[AmplitudeSandbox, httpx.Client]:
    config = AmplitudeSandboxConfig(eps_threshold=1, max_events=50)
    sandbox, client, _ = client_for(exit_stack, AmplitudeSandbox(config, clock))
    return sandbox, client


def test_amplitude_answers_as_http_v2_documents(
    amplitude: tuple[AmplitudeSandbox, httpx.Client], clock: ManualClock
) -> None:
    sandbox, http = amplitude
    missing = http.post("/2/httpapi", json={"events": [{"event_type": "a", "user_id": "user1"}]})
    assert (missing.status_code, missing.json()["missing_field"]) == (400, "api_key")
    bad = http.post(
        "/2/httpapi",
        json={
            "api_key": AMPLITUDE_KEY,
            "events": [
                {"event_type": "a", "user_id": "user1"},
                {"user_id": "user1"},
                {"event_type": "a", "user_id": "u1"},
                {"event_type": "a", "user_id": "user1", "time": "noon"},
            ],
        },
    )
    assert bad.status_code == 400
    assert bad.json()["events_with_missing_fields"] == {
        "event_type": [1],
        "user_id or device_id": [2],
    }
    assert bad.json()["events_with_invalid_fields"] == {"time": [3]}
    assert sandbox.events == []  # a 400 rejects the whole request
    big = http.post(
        "/2/httpapi",
        json={"api_key": AMPLITUDE_KEY, "events": [{"event_type": "a", "user_id": "user1"}] * 51},
    )
    assert big.status_code == 413 and [v.kind for v in sandbox.violations] == ["batch_size"]
    ok = http.post(
        "/2/httpapi",
        json={"api_key": AMPLITUDE_KEY, "events": [{"event_type": "a", "user_id": "user1"}] * 30},
    )
    assert ok.json()["events_ingested"] == 30
    throttled = http.post(
        "/2/httpapi",
        json={"api_key": AMPLITUDE_KEY, "events": [{"event_type": "a", "user_id": "user1"}]},
    )
    assert throttled.status_code == 429 and "retry-after" not in throttled.headers
    assert throttled.json()["throttled_users"] == {"user1": 2}
    assert throttled.json()["throttled_events"] == [0]
    clock.advance(30)  # the next 30-second window
    again = http.post(
        "/2/httpapi",
        json={"api_key": AMPLITUDE_KEY, "events": [{"event_type": "a", "user_id": "user1"}]},
    )
    assert again.status_code == 200


def test_identify_takes_form_fields_and_one_object_or_a_list(
    amplitude: tuple[AmplitudeSandbox, httpx.Client],
) -> None:
    sandbox, http = amplitude
    one = {"user_id": "user1", "user_properties": {"$set": {"a": 1}, "$append": {"tags": "x"}}}
    answer = http.post(
        "/identify", data={"api_key": AMPLITUDE_KEY, "identification": json.dumps(one)}
    )
    assert (answer.status_code, answer.text) == (200, "success")
    assert sandbox.user("user1").properties == {"a": 1, "tags": ["x"]}  # type: ignore[union-attr]
    as_json = http.post("/identify", json={"api_key": AMPLITUDE_KEY, "identification": [one]})
    assert as_json.status_code == 400  # form data, as Amplitude documents
    wrong = http.post("/identify", data={"api_key": "nope", "identification": json.dumps(one)})
    assert wrong.status_code == 400 and wrong.json()["error"] == "Invalid API key"


# --- OneSignal ---------------------------------------------------------------------------


@pytest.fixture
def onesignal(
    clock: ManualClock, exit_stack: contextlib.ExitStack
) -> tuple[OneSignalSandbox, httpx.Client]:
    config = OneSignalSandboxConfig(max_aliases=3)
    sandbox, client, _ = client_for(
        exit_stack,
        OneSignalSandbox(config, clock),
        headers={"Authorization": f"Key {ONESIGNAL_KEY}"},
    )
    return sandbox, client


def _push(*ids: str, **extra: object) -> dict[str, object]:
    return {
        "app_id": DEFAULT_APP_ID,
        "include_aliases": {"external_id": list(ids)},
        "target_channel": "push",
        "contents": {"en": "hi"},
        **extra,
    }


def test_onesignal_checks_the_key_the_app_and_the_targeting(
    onesignal: tuple[OneSignalSandbox, httpx.Client],
) -> None:
    sandbox, http = onesignal
    sandbox.add_user("a")
    assert (
        http.post("/notifications", json=_push("a"), headers={"Authorization": "Key x"}).status_code
        == 403
    )
    assert http.post("/notifications", json={**_push("a"), "app_id": "other"}).status_code == 400
    both = {**_push("a"), "included_segments": ["Subscribed Users"]}
    assert (
        "exactly one targeting mode" in http.post("/notifications", json=both).json()["errors"][0]
    )
    no_channel = _push("a")
    no_channel.pop("target_channel")
    assert http.post("/notifications", json=no_channel).status_code == 400
    too_many = http.post("/notifications", json=_push("a", "b", "c", "d"))
    assert too_many.status_code == 400 and [v.kind for v in sandbox.violations] == ["batch_size"]
    assert sandbox.notifications == []


def test_onesignal_dedupes_by_idempotency_key_and_lists_invalid_aliases(
    onesignal: tuple[OneSignalSandbox, httpx.Client],
) -> None:
    sandbox, http = onesignal
    sandbox.add_user("a")
    key = "6f1f7a52-4d59-4e5f-8a35-0d7d1f1b9e01"
    first = http.post("/notifications", json=_push("a", "ghost", idempotency_key=key)).json()
    again = http.post("/notifications", json=_push("a", "ghost", idempotency_key=key)).json()
    assert first == again and first["errors"] == {"invalid_aliases": {"external_id": ["ghost"]}}
    assert len(sandbox.notifications) == 1
    nobody = http.post("/notifications", json=_push("ghost")).json()
    assert nobody == {"id": "", "errors": ["All included players are not subscribed"]}


def test_onesignal_users_and_their_per_user_limit(
    onesignal: tuple[OneSignalSandbox, httpx.Client], clock: ManualClock
) -> None:
    sandbox, http = onesignal
    path = f"/apps/{DEFAULT_APP_ID}/users/by/external_id/u-1"
    body = {"properties": {"tags": {"plan": "pro"}}}
    assert http.patch(path, json=body).status_code == 404
    created = http.post(
        f"/apps/{DEFAULT_APP_ID}/users",
        json={"identity": {"external_id": "u-1"}, "properties": {"tags": {"plan": "free"}}},
    )
    assert created.status_code == 201 and created.json()["identity"]["onesignal_id"]
    assert http.patch(path, json=body).status_code == 202  # creating touched no user yet
    limited = http.patch(path, json=body)  # the same user within the second
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json() == {"errors": ["API rate limit exceeded."]}
    clock.advance(1)
    assert http.patch(path, json=body).status_code == 202
    clock.advance(1)
    removed = http.patch(path, json={"properties": {"tags": {"plan": ""}}})
    assert removed.status_code == 202 and sandbox.user("u-1").tags == {}  # type: ignore[union-attr]
    clock.advance(1)
    over = {"properties": {"tags": {f"t{n}": "x" for n in range(101)}}}
    assert http.patch(path, json=over).status_code == 400
    assert [v.kind for v in sandbox.violations] == ["rate_limit", "batch_size"]


def test_amplitude_deletes_users_through_the_user_privacy_api(
    amplitude: tuple[AmplitudeSandbox, httpx.Client],
) -> None:
    sandbox, http = amplitude
    for user_id in ("user-gone", "user-kept"):
        sent = http.post(
            "/identify",
            data={
                "api_key": AMPLITUDE_KEY,
                "identification": json.dumps(
                    {"user_id": user_id, "user_properties": {"email": f"{user_id}@x.io"}}
                ),
            },
        )
        assert sent.status_code == 200, sent.text
    body = {"user_ids": ["user-gone"], "requester": "dpo@example.com"}
    path = "/api/2/deletions/users"
    assert http.post(path, json=body).status_code == 401  # Basic auth, not the body key
    wrong = http.post(path, json=body, auth=(AMPLITUDE_KEY, "not-the-secret"))
    assert wrong.status_code == 401
    auth = (AMPLITUDE_KEY, AMPLITUDE_SECRET)
    unknown = http.post(path, json={"user_ids": ["user-gone", "nobody-1"]}, auth=auth)
    assert unknown.status_code == 400 and unknown.json()["invalid_user_ids"] == ["nobody-1"]
    assert sandbox.user("user-gone") is not None  # a refused job deletes nothing
    too_many = http.post(path, json={"user_ids": [f"u-{n:04}" for n in range(101)]}, auth=auth)
    assert too_many.status_code == 400
    job = http.post(
        path, json={**body, "user_ids": ["user-gone", "nobody-1"], "ignore_invalid_id": "true"},
        auth=auth,
    )  # fmt: skip
    assert job.status_code == 200, job.text
    assert job.json()["status"] == "staging"
    [found] = job.json()["amplitude_ids"]
    assert (found["user_id"], found["requester"]) == ("user-gone", "dpo@example.com")
    assert sandbox.user("user-gone") is None and sandbox.user("user-kept") is not None
    assert len(sandbox.deletion_jobs) == 1
    assert [v.kind for v in sandbox.violations] == ["batch_size"]


def test_onesignal_deletes_a_user_by_external_id(
    onesignal: tuple[OneSignalSandbox, httpx.Client],
) -> None:
    sandbox, http = onesignal
    gone = sandbox.add_user("u-gone", tags={"email": "gone@x.io"})
    sandbox.add_user("u-kept")
    path = f"/apps/{DEFAULT_APP_ID}/users/by/external_id/u-gone"
    deleted = http.delete(path)
    assert deleted.status_code == 200
    assert deleted.json() == {"identity": {"onesignal_id": gone.onesignal_id}}
    assert sandbox.user("u-gone") is None and sandbox.user("u-kept") is not None
    assert http.get(path).status_code == 404
    assert http.delete(path).status_code == 404  # already gone
    other_app = http.delete(
        "/apps/00000000-0000-0000-0000-000000000000/users/by/external_id/u-kept"
    )
    assert other_app.status_code == 404 and sandbox.user("u-kept") is not None
