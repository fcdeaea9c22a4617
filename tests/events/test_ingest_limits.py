"""Bad input on the tracking API and the inbound hooks, through real HTTP on loopback.

Every class of bad input gets a JSON 4xx, stores nothing and leaves the server up; what is
accepted can be stored and delivered (nesting depth is bounded by ``MAX_DEPTH``).
"""

from __future__ import annotations

import base64
import gzip
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from renkei.events.envelope import MAX_DEPTH
from renkei.hub import Hub
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.events.conftest import assert_error, count
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import admin_client, running_hub

ENDPOINTS = ("/v1/track", "/v1/batch", "/v1/identify", "hook")


def nested(depth: int) -> bytes:
    """A JSON value that is ``depth`` objects deep (as text: the serializer stops at 254)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


def message(path: str, extra: dict[str, Any]) -> dict[str, Any]:
    """A valid message for ``path`` (the whole body), with ``extra`` fields added."""
    if path == "/v1/batch":
        return {"batch": [{"type": "track", "userId": "u1", "event": "E", **extra}]}
    if path in ("/v1/identify", "hook"):
        return {"type": "deep", "userId": "u1", **extra}
    return {"userId": "u1", "event": "E", **extra}


def deep_body(path: str, depth: int) -> bytes:
    """A body whose event (a batch item, or the whole body) is ``depth`` levels deep."""
    field = "traits" if path == "/v1/identify" else "properties"
    return orjson.dumps(message(path, {field: "DEEP"})).replace(b'"DEEP"', nested(depth - 1))


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def target(base_url: str, path: str, admin: httpx.Client) -> str:
    if path != "hook":
        return f"{base_url}{path}"
    created = admin.post("/api/v1/sources", json={"kind": "webhook", "name": "hook"})
    assert created.status_code == 201, created.text
    return str(created.json()["url"])


def send(
    url: str, write_key: str, content: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    all_headers = {"Content-Type": "application/json", "Authorization": basic(write_key)}
    all_headers.update(headers or {})
    return httpx.post(url, content=content, headers=all_headers, timeout=30)


def assert_still_up(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200


# One hub per module and backend for the tests that send one request each and look at
# the answer (over a hundred rows): they override conftest's per-test ``served``, ``admin``
# and ``write_key``, and compare the number of events before and after rather than with 0.


@pytest.fixture(scope="module", params=BACKENDS)
def shared_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    return database_factory.new_url(request.param)


@pytest.fixture(scope="module")
def served(shared_url: str) -> Iterator[tuple[str, Hub]]:
    with running_hub(shared_url) as served:
        yield served


@pytest.fixture(scope="module")
def admin(served: tuple[str, Hub]) -> Iterator[httpx.Client]:
    with admin_client(served[0]) as client:
        yield client


@pytest.fixture(scope="module")
def write_key(admin: httpx.Client) -> str:
    created = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"})
    assert created.status_code == 201, created.text
    return str(created.json()["write_key"])


@pytest.fixture(scope="module")
def hook_url(admin: httpx.Client) -> str:
    created = admin.post("/api/v1/sources", json={"kind": "webhook", "name": "hook"})
    assert created.status_code == 201, created.text
    return str(created.json()["url"])


def shared_target(base_url: str, path: str, hook_url: str) -> str:
    return hook_url if path == "hook" else f"{base_url}{path}"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200, 254, 300])
@pytest.mark.parametrize("path", ENDPOINTS)
def test_too_deep_nesting_is_refused_with_a_json_400(
    served: tuple[str, Hub],
    hook_url: str,
    write_key: str,
    shared_url: str,
    path: str,
    depth: int,
) -> None:
    base_url, _ = served
    url = shared_target(base_url, path, hook_url)
    before = count(shared_url, "events")
    answer = send(url, write_key, deep_body(path, depth))
    error = assert_error(answer, 400, "json_too_deep")
    assert error["details"]["max_depth"] == MAX_DEPTH
    assert count(shared_url, "events") == before
    assert_still_up(base_url)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_the_deepest_accepted_nesting_is_stored_and_delivered(database_url: str, path: str) -> None:
    fast: dict[str, Any] = {
        "retry_schedule": (0.2, 0.4),
        "retry_jitter": 0.0,
        "worker_poll_interval": 0.05,
    }
    with Receiver() as receiver, running_hub(database_url, **fast) as (base_url, _):
        admin = admin_client(base_url)
        event_type = (
            "webhook" if path == "hook" else "identify" if path == "/v1/identify" else "track"
        )
        endpoint = admin.post(
            "/api/v1/endpoints",
            json={"name": "sink", "url": receiver.url, "event_types": [event_type]},
        )
        assert endpoint.status_code == 201, endpoint.text
        created = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"})
        write_key = created.json()["write_key"]
        url = target(base_url, path, admin)
        answer = send(url, write_key, deep_body(path, MAX_DEPTH))
        assert answer.status_code == 200, answer.text

        wait_until(lambda: len(receiver.snapshot()) == 1)
        body = receiver.snapshot()[0].json
        assert body["type"] == event_type
        events = admin.get("/api/v1/events").json()["data"]
        assert len(events) == 1

        def delivered() -> bool:
            rows = admin.get(f"/api/v1/events/{events[0]['id']}/deliveries").json()["data"]
            return [row["status"] for row in rows] == ["succeeded"]

        wait_until(delivered)


def _stall(base_url: str, path: str, authorization: str, body: bytes) -> bytes:
    """Send the headers and half the body, then nothing: what does the server answer?"""
    host, port = base_url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nAuthorization: {authorization}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body[: len(body) // 2])
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no answer and no close: {received!r}") from None
            if not chunk:
                return received
            received += chunk


BODY_TIMEOUT = 1.0


@pytest.mark.parametrize("path", [*ENDPOINTS, "/api/v1/events"])
def test_a_stalled_body_gets_408_within_the_body_timeout(database_url: str, path: str) -> None:
    with running_hub(database_url, body_timeout_seconds=BODY_TIMEOUT) as (base_url, _):
        admin = admin_client(base_url)
        write_key = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "a"}).json()[
            "write_key"
        ]
        authorization = basic(write_key)
        body = orjson.dumps(message(path, {}))
        if path == "hook":
            path = httpx.URL(target(base_url, path, admin)).path
        elif path.startswith("/api/"):
            authorization = str(admin.headers["authorization"])
            body = orjson.dumps({"type": "stalled.event", "data": {"a": 1}})
        answer = _stall(base_url, path, authorization, body)  # bounded: 10 s socket timeout
        head, _, content = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        assert orjson.loads(content)["error"]["code"] == "request_timeout"
        assert count(database_url, "events") == 0
        assert_still_up(base_url)


def _gzip_of(content: bytes) -> bytes:
    return gzip.compress(content)


Bad = Callable[[str], tuple[bytes, dict[str, str]]]
"""path -> (body, extra headers)"""

BAD_INPUTS: list[tuple[str, Bad, int, set[str]]] = [
    ("malformed-json", lambda p: (b'{"userId": "u1", "event": ', {}), 400, {"invalid_json"}),
    ("not-an-object", lambda p: (b'["u1"]', {}), 400, {"invalid_body", "invalid_type"}),
    (
        "too-deep",
        lambda p: (deep_body(p, 500), {}),
        400,
        {"json_too_deep"},
    ),
    (
        "deeper-than-the-parser",
        lambda p: (b"[" * 2000 + b"]" * 2000, {}),
        400,
        {"invalid_json"},
    ),
    (
        "wrong-types",
        lambda p: (orjson.dumps(message(p, {"userId": ["u1"], "type": 7})), {}),
        400,
        {"invalid_field", "invalid_type", "invalid_body"},
    ),
    (
        "infinite-number",
        lambda p: (orjson.dumps(message(p, {"properties": {}})).replace(b"{}", b"1e999"), {}),
        400,
        {"invalid_json", "invalid_field"},
    ),
    (
        "invalid-utf8",
        lambda p: (
            orjson.dumps(message(p, {"properties": {"x": "ab"}})).replace(b"ab", b"\xff"),
            {},
        ),
        400,
        {"invalid_json", "invalid_body"},
    ),
    (
        "raw-nul-byte",
        lambda p: (
            orjson.dumps(message(p, {"properties": {"x": "ab"}})).replace(b"ab", b"\x00"),
            {},
        ),
        400,
        {"invalid_json", "invalid_body"},
    ),
    (
        "escaped-nul",
        lambda p: (orjson.dumps(message(p, {"properties": {"x": "a\x00b"}})), {}),
        400,
        {"not_storable"},
    ),
    (
        "oversized",
        lambda p: (orjson.dumps(message(p, {"properties": {"x": "x" * 2_000_000}})), {}),
        413,
        {"payload_too_large"},
    ),
    (
        "bad-gzip",
        lambda p: (b"\x1f\x8b\x08not gzip at all", {"Content-Encoding": "gzip"}),
        400,
        {"invalid_gzip", "invalid_body"},
    ),
    (
        "truncated-gzip",
        lambda p: (_gzip_of(orjson.dumps(message(p, {})))[:-8], {"Content-Encoding": "gzip"}),
        400,
        {"invalid_gzip", "invalid_body"},
    ),
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("build", "status", "codes"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_table(
    served: tuple[str, Hub],
    hook_url: str,
    write_key: str,
    shared_url: str,
    path: str,
    build: Bad,
    status: int,
    codes: set[str],
) -> None:
    base_url, _ = served
    url = shared_target(base_url, path, hook_url)
    before = count(shared_url, "events")
    content, headers = build(path)
    if path == "hook":
        # a webhook source without a mapping stores any JSON value: wrong types are fine there
        if codes & {"invalid_field", "invalid_type"} and "invalid_json" not in codes:
            codes = codes | {"accepted"}
        codes = codes | {"invalid_body"} if "invalid_json" in codes else codes
    answer = send(url, write_key, content, headers)
    if answer.status_code == 200 and "accepted" in codes:
        return
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"]["code"] in codes, answer.text
    assert count(shared_url, "events") == before
    assert_still_up(base_url)
    time.sleep(0)  # nothing timed: the server answered


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 254, 300])
def test_publishing_refuses_too_deep_data_with_a_json_400(
    served: tuple[str, Hub], admin: httpx.Client, shared_url: str, depth: int
) -> None:
    before = count(shared_url, "events")
    body = b'{"type": "deep.event", "data": ' + nested(depth - 1) + b"}"
    answer = admin.post(
        "/api/v1/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] in {"json_too_deep", "invalid_json"}
    assert count(shared_url, "events") == before
    # the body is level 1, so data may nest one level less than an event
    deepest = b'{"type": "deep.event", "data": ' + nested(MAX_DEPTH - 1) + b"}"
    accepted = admin.post(
        "/api/v1/events", content=deepest, headers={"Content-Type": "application/json"}
    )
    assert accepted.status_code == 201, accepted.text


def test_a_gzipped_hook_body_is_inflated_and_mapped(
    served: tuple[str, Hub], admin: httpx.Client
) -> None:
    created = admin.post(
        "/api/v1/sources",
        json={"kind": "webhook", "name": "zipped", "mapping": {"type": "type", "id": "id"}},
    )
    body = orjson.dumps({"type": "contact.created", "id": "wh-zip-1", "email": "a@example.com"})
    answer = httpx.post(
        created.json()["url"],
        content=gzip.compress(body),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["event_ids"] == ["wh-zip-1"]
    stored = admin.get("/api/v1/events/wh-zip-1").json()
    assert stored["type"] == "contact.created"


def test_integers_are_exact_in_64_bits_and_floats_beyond(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str
) -> None:
    """As docs/ingest.md says: -2**63 ... 2**64-1 kept exactly, larger read as a double."""
    base_url, _ = served
    body = (
        b'{"userId": "u1", "event": "Big", "messageId": "big-1", "properties": '
        b'{"max": 18446744073709551615, "min": -9223372036854775808, '
        b'"beyond": 18446744073709551616, "huge": 123456789012345678901234567890}}'
    )
    answer = send(f"{base_url}/v1/track", write_key, body)
    assert answer.status_code == 200, answer.text
    properties = admin.get("/api/v1/events/big-1").json()["data"]["properties"]
    assert properties["max"] == 2**64 - 1 and isinstance(properties["max"], int)
    assert properties["min"] == -(2**63)
    assert properties["beyond"] == float(2**64) and isinstance(properties["beyond"], float)
    assert properties["huge"] == pytest.approx(1.2345678901234568e29)
