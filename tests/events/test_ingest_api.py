"""The Segment-compatible tracking API through real HTTP, driven by the real SDKs."""

from __future__ import annotations

import asyncio
import base64
import gzip
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from renkei.hub import Hub
from tests.events.conftest import assert_error, count, query
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import admin_client, running_hub


def exercise(client: Any) -> None:
    client.identify("user-1", {"email": "Ada@Example.com", "plan": "pro"})
    client.track("user-1", "Order Completed", {"total": 12.5}, message_id="order-42")
    client.track("user-1", "Order Completed", {"total": 12.5}, message_id="order-42")  # dup
    client.page(anonymous_id="anon-1", name="Pricing", properties={"path": "/pricing"})
    client.screen("user-1", name="Home")
    client.group("user-1", "company-9", {"name": "Initech"})
    client.alias("anon-1", "user-1")


def check_stored(admin: httpx.Client, library: str) -> None:
    events = admin.get("/api/v1/events", params={"limit": 100}).json()["data"]
    assert [event["type"] for event in reversed(events)] == [
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    ]  # the duplicate messageId was stored once
    by_type = {event["type"]: event for event in events}
    track = by_type["track"]
    assert track["id"] == "order-42"
    assert track["name"] == "Order Completed"
    assert track["user_id"] == "user-1"
    assert track["data"]["properties"] == {"total": 12.5}
    assert by_type["page"]["name"] == "Pricing"
    assert by_type["page"]["anonymous_id"] == "anon-1"
    assert by_type["screen"]["name"] == "Home"
    assert by_type["identify"]["email"] == "Ada@Example.com"
    for event in events:
        assert set(event) >= {
            "id",
            "type",
            "name",
            "user_id",
            "anonymous_id",
            "data",
            "occurred_at",
            "received_at",
            "source_id",
        }
        assert event["source_id"].startswith("src_")
        assert event["data"]["context"]["library"]["name"] == library
        assert "writeKey" not in event["data"]

    filtered = admin.get("/api/v1/events", params={"type": "track", "name": "Order Completed"})
    assert [event["id"] for event in filtered.json()["data"]] == ["order-42"]

    profiles = admin.get("/api/v1/profiles", params={"user_id": "user-1"}).json()["data"]
    assert len(profiles) == 1
    profile = profiles[0]
    identities = {(i["kind"], i["value"]) for i in profile["identities"]}
    assert identities == {
        ("user_id", "user-1"),
        ("email", "ada@example.com"),
        ("anonymous_id", "anon-1"),  # linked by alias
    }
    assert profile["traits"]["plan"]["value"] == "pro"
    assert profile["traits"]["email"]["value"] == "Ada@Example.com"
    assert profile["traits"]["plan"]["updated_at"] == by_type["identify"]["occurred_at"]
    by_email = admin.get("/api/v1/profiles", params={"email": "ada@example.com"}).json()["data"]
    assert [p["id"] for p in by_email] == [profile["id"]]
    detail = admin.get(f"/api/v1/profiles/{profile['id']}").json()
    assert {event["type"] for event in detail["recent_events"]} == set(by_type)


@pytest.mark.parametrize("use_gzip", [False, True])
def test_segment_analytics_python(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str, use_gzip: bool
) -> None:
    base_url, _ = served
    client = SegmentClient(write_key, host=base_url, sync_mode=True, gzip=use_gzip, max_retries=0)
    exercise(client)
    check_stored(admin, "analytics-python")


def test_rudder_sdk_python(served: tuple[str, Hub], admin: httpx.Client, write_key: str) -> None:
    base_url, _ = served
    client = RudderClient(write_key, host=base_url, sync_mode=True, max_retries=0)  # gzips
    exercise(client)
    check_stored(admin, "analytics-python")


def test_segment_batching_consumer(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str, database_url: str
) -> None:
    base_url, _ = served
    errors: list[Any] = []
    client = SegmentClient(
        write_key,
        host=base_url,
        gzip=True,
        upload_size=25,
        upload_interval=0.01,
        max_retries=0,
        on_error=lambda error, items: errors.append(error),
    )
    for number in range(60):
        client.track(f"user-{number % 3}", "Clicked", {"n": number})
    client.flush()
    client.join()
    assert not errors
    rows = query(database_url, "SELECT data FROM events WHERE type = 'track'")
    numbers = sorted(
        (orjson.loads(row[0]) if isinstance(row[0], str) else row[0])["properties"]["n"]
        for row in rows
    )
    assert numbers == list(range(60))
    assert len(admin.get("/api/v1/profiles").json()["data"]) == 3


def post(base_url: str, path: str, body: Any, write_key: str | None = None, **kw: Any) -> Any:
    headers = kw.pop("headers", {})
    if write_key is not None:
        token = base64.b64encode(f"{write_key}:".encode()).decode()
        headers.setdefault("Authorization", f"Basic {token}")
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers.setdefault("Content-Type", "application/json")
    return httpx.post(f"{base_url}{path}", content=content, headers=headers, **kw)


def test_write_key_in_body_and_every_endpoint(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str
) -> None:
    base_url, _ = served
    messages = {
        "identify": {"userId": "u1", "traits": {"name": "Ada"}},
        "track": {"userId": "u1", "event": "Signed Up"},
        "page": {"anonymousId": "a1", "name": "Home"},
        "screen": {"userId": "u1", "name": "Settings"},
        "group": {"userId": "u1", "groupId": "g1"},
        "alias": {"userId": "u1", "previousId": "a1"},
    }
    for endpoint, message in messages.items():
        answer = post(base_url, f"/v1/{endpoint}", {**message, "writeKey": write_key})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"success": True}
    # analytics.js posts text/plain to one-letter paths
    answer = post(
        base_url,
        "/v1/t",
        {"userId": "u1", "event": "Beacon", "writeKey": write_key},
        headers={"Content-Type": "text/plain"},
    )
    assert answer.status_code == 200, answer.text
    stored = admin.get("/api/v1/events").json()["data"]
    assert sorted(event["type"] for event in stored) == sorted([*messages, "track"])


def test_duplicate_message_id_is_stored_once(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str, database_url: str
) -> None:
    base_url, _ = served
    message = {"userId": "u1", "event": "Paid", "messageId": "m-1"}
    for _ in range(3):
        assert post(base_url, "/v1/track", message, write_key).status_code == 200
    batch = {"batch": [{**message, "type": "track"}, {**message, "type": "track"}]}
    assert post(base_url, "/v1/batch", batch, write_key).status_code == 200
    assert count(database_url, "events") == 1


def test_timestamp_is_corrected_with_sent_at(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str
) -> None:
    base_url, _ = served
    # A device whose clock is an hour ahead: sentAt and originalTimestamp both skewed.
    message = {
        "userId": "u1",
        "event": "Skewed",
        "originalTimestamp": "2030-01-01T10:00:00.000Z",
        "sentAt": "2030-01-01T10:00:05.000Z",
    }
    assert post(base_url, "/v1/track", message, write_key).status_code == 200
    event = admin.get("/api/v1/events").json()["data"][0]
    received = datetime.fromisoformat(event["received_at"])
    occurred = datetime.fromisoformat(event["occurred_at"])
    assert (received - occurred).total_seconds() == pytest.approx(5, abs=0.002)
    # an explicit timestamp is kept as given
    kept = {"userId": "u1", "event": "Import", "timestamp": "2020-05-01T00:00:00Z"}
    assert post(base_url, "/v1/track", kept, write_key).status_code == 200
    event = admin.get("/api/v1/events").json()["data"][0]
    assert event["occurred_at"] == "2020-05-01T00:00:00.000Z"


def test_batch_context_merges_into_items(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str
) -> None:
    base_url, _ = served
    batch = {
        "context": {"app": {"name": "shop"}, "locale": "ja-JP"},
        "integrations": {"All": False},
        "batch": [
            {"type": "track", "userId": "u1", "event": "A", "context": {"locale": "en-US"}},
            {"type": "identify", "userId": "u1", "traits": {"plan": "free"}},
        ],
    }
    assert post(base_url, "/v1/batch", batch, write_key).status_code == 200
    events = {e["type"]: e for e in admin.get("/api/v1/events").json()["data"]}
    assert events["track"]["data"]["context"] == {"app": {"name": "shop"}, "locale": "en-US"}
    assert events["identify"]["data"]["context"] == {"app": {"name": "shop"}, "locale": "ja-JP"}
    assert events["identify"]["data"]["integrations"] == {"All": False}


def test_cors_for_browser_sdks(served: tuple[str, Hub], write_key: str) -> None:
    base_url, _ = served
    preflight = httpx.options(
        f"{base_url}/v1/track",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "authorization, content-type"
    answer = post(
        base_url,
        "/v1/track",
        {"userId": "u1", "event": "E"},
        write_key,
        headers={"Origin": "https://shop.example"},
    )
    assert answer.headers["access-control-allow-origin"] == "*"
    refused = post(base_url, "/v1/track", {"userId": "u1"}, write_key)
    assert refused.headers["access-control-allow-origin"] == "*"


def _big(size: int) -> str:
    return "x" * size


BAD_INPUTS: list[tuple[str, str, Callable[[str], dict[str, Any]], int, str]] = [
    # (id, path, request builder taking the write key, status, code)
    (
        "malformed-json",
        "/v1/track",
        lambda key: {"content": b'{"userId": "u1", "event": ', "key": key},
        400,
        "invalid_json",
    ),
    (
        "not-an-object",
        "/v1/track",
        lambda key: {"content": b"[1, 2]", "key": key},
        400,
        "invalid_body",
    ),
    (
        "wrong-content-type",
        "/v1/track",
        lambda key: {
            "content": orjson.dumps({"userId": "u1", "event": "E"}),
            "key": key,
            "headers": {"Content-Type": "application/xml"},
        },
        415,
        "unsupported_media_type",
    ),
    (
        "event-over-32kb",
        "/v1/track",
        lambda key: {"json": {"userId": "u1", "event": "E", "properties": {"x": _big(33_000)}}},
        413,
        "payload_too_large",
    ),
    (
        "batch-over-500kb",
        "/v1/batch",
        lambda key: {
            "json": {
                "batch": [
                    {
                        "type": "track",
                        "userId": "u1",
                        "event": "E",
                        "properties": {"x": _big(30_000)},
                    }
                    for _ in range(18)
                ]
            }
        },
        413,
        "payload_too_large",
    ),
    (
        "batch-item-over-32kb",
        "/v1/batch",
        lambda key: {
            "json": {
                "batch": [
                    {"type": "track", "userId": "u1", "event": "ok"},
                    {
                        "type": "track",
                        "userId": "u1",
                        "event": "E",
                        "properties": {"x": _big(33_000)},
                    },
                ]
            }
        },
        413,
        "event_too_large",
    ),
    (
        "more-than-2500-events",
        "/v1/batch",
        lambda key: {"json": {"batch": [{"type": "track", "userId": "u", "event": "e"}] * 2501}},
        400,
        "too_many_events",
    ),
    (
        "gzip-broken",
        "/v1/track",
        lambda key: {
            "content": b"\x1f\x8b\x08not gzip",
            "key": key,
            "headers": {"Content-Encoding": "gzip"},
        },
        400,
        "invalid_gzip",
    ),
    (
        "missing-user-and-anonymous-id",
        "/v1/track",
        lambda key: {"json": {"event": "E"}},
        400,
        "missing_identity",
    ),
    (
        "track-without-event",
        "/v1/track",
        lambda key: {"json": {"userId": "u1"}},
        400,
        "missing_field",
    ),
    (
        "alias-without-previous-id",
        "/v1/alias",
        lambda key: {"json": {"userId": "u1"}},
        400,
        "missing_field",
    ),
    (
        "group-without-group-id",
        "/v1/group",
        lambda key: {"json": {"userId": "u1"}},
        400,
        "missing_field",
    ),
    (
        "batch-item-without-type",
        "/v1/batch",
        lambda key: {
            "json": {"batch": [{"type": "track", "userId": "u", "event": "e"}, {"userId": "u"}]}
        },
        400,
        "invalid_type",
    ),
    (
        "user-id-too-long",
        "/v1/track",
        lambda key: {"json": {"userId": _big(300), "event": "E"}},
        400,
        "field_too_long",
    ),
    (
        "unknown-write-key",
        "/v1/track",
        lambda key: {"json": {"userId": "u1", "event": "E"}, "key": "wk_not_a_key"},
        401,
        "invalid_write_key",
    ),
    (
        "missing-write-key",
        "/v1/track",
        lambda key: {"json": {"userId": "u1", "event": "E"}, "key": None},
        401,
        "missing_write_key",
    ),
]


# One hub per module and backend for the bad-input table (a request per row): the rows
# compare the number of events and profiles before and after rather than with 0. The
# other tests count from a fresh database and keep conftest's hub of their own.


@pytest.fixture(scope="module", params=BACKENDS)
def shared_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    return database_factory.new_url(str(request.param))


@pytest.fixture(scope="module")
def shared_hub(shared_url: str) -> Iterator[tuple[str, str]]:
    """``(base_url, write_key)`` of the hub the table shares."""
    with running_hub(shared_url) as (base_url, _), admin_client(base_url) as admin:
        created = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"})
        assert created.status_code == 201, created.text
        yield base_url, str(created.json()["write_key"])


@pytest.mark.parametrize(
    ("path", "build", "status", "code"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_a_json_error_and_nothing_is_stored(
    shared_hub: tuple[str, str],
    shared_url: str,
    path: str,
    build: Callable[[str], dict[str, Any]],
    status: int,
    code: str,
) -> None:
    base_url, write_key = shared_hub
    events, profiles = count(shared_url, "events"), count(shared_url, "profiles")
    spec = build(write_key)
    key = spec.get("key", write_key)
    headers = {"Content-Type": "application/json", **spec.get("headers", {})}
    if key is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    content = spec["content"] if "content" in spec else orjson.dumps(spec["json"])
    answer = httpx.post(f"{base_url}{path}", content=content, headers=headers, timeout=30)
    assert_error(answer, status, code)
    assert answer.headers["access-control-allow-origin"] == "*"
    assert count(shared_url, "events") == events
    assert count(shared_url, "profiles") == profiles


def test_gzip_bodies_are_accepted(
    served: tuple[str, Hub], write_key: str, database_url: str
) -> None:
    base_url, _ = served
    body = gzip.compress(orjson.dumps({"userId": "u1", "event": "Zipped"}))
    answer = post(base_url, "/v1/track", body, write_key, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 200, answer.text
    assert count(database_url, "events") == 1


def test_each_way_of_sending_the_write_key_works_on_every_request(
    served: tuple[str, Hub], write_key: str, database_url: str
) -> None:
    """The fast path remembers decoded credentials; repeats must answer as the first did."""
    base_url, _ = served
    url = f"{base_url}/v1/track"
    basic = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    sends = [
        ({"Authorization": basic}, {}),
        ({"Authorization": "Bearer some.oauth.token"}, {"writeKey": write_key}),
        ({}, {"writeKey": write_key}),
    ]
    for _ in range(2):
        for headers, extra in sends:
            answer = httpx.post(url, json={"userId": "u1", "event": "E", **extra}, headers=headers)
            assert answer.status_code == 200, answer.text
        malformed = httpx.post(
            url,
            json={"userId": "u1", "event": "E", "writeKey": write_key},
            headers={"Authorization": "Basic not-base64!!"},
        )
        assert_error(malformed, 401, "invalid_authorization")
        wrong = "Basic " + base64.b64encode(b"wk_not_a_key:").decode()
        assert_error(
            httpx.post(url, json={"userId": "u1", "event": "E"}, headers={"Authorization": wrong}),
            401,
            "invalid_write_key",
        )
    assert count(database_url, "events") == 6


def test_disabled_source_is_refused(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str, database_url: str
) -> None:
    base_url, _ = served
    source_id = admin.get("/api/v1/sources").json()["data"][0]["id"]
    assert admin.post(f"/api/v1/sources/{source_id}/disable").status_code == 200
    answer = post(base_url, "/v1/track", {"userId": "u1", "event": "E"}, write_key)
    assert_error(answer, 403, "source_disabled")
    assert admin.post(f"/api/v1/sources/{source_id}/enable").status_code == 200
    assert post(base_url, "/v1/track", {"userId": "u1", "event": "E"}, write_key).is_success
    assert count(database_url, "events") == 1


def test_concurrent_requests_are_all_stored(
    served: tuple[str, Hub], write_key: str, database_url: str
) -> None:
    base_url, _ = served
    statuses: list[int] = []

    def send(worker: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for number in range(10):
                body = {"userId": f"u{worker}", "event": "E", "messageId": f"m-{worker}-{number}"}
                token = base64.b64encode(f"{write_key}:".encode()).decode()
                answer = client.post(
                    "/v1/track",
                    content=orjson.dumps(body),
                    headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
                )
                statuses.append(answer.status_code)

    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 200
    assert count(database_url, "events") == 200
    assert count(database_url, "profiles") == 20


class WriteLock:
    """Holds the database's write lock from outside the hub, as a slow disk would."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.release = threading.Event()
        self.held = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        if self.database_url.startswith("sqlite"):
            connection = sqlite3.connect(self.database_url.removeprefix("sqlite:///"))
            connection.isolation_level = None
            connection.execute("BEGIN IMMEDIATE")
            self.held.set()
            self.release.wait(60)
            connection.execute("ROLLBACK")
            connection.close()
            return

        async def hold() -> None:
            import asyncpg

            connection = await asyncpg.connect(self.database_url)
            transaction = connection.transaction()
            await transaction.start()
            await connection.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            await transaction.rollback()
            await connection.close()

        asyncio.run(hold())

    def __enter__(self) -> WriteLock:
        self.thread.start()
        assert self.held.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.thread.join(60)


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_overload_answers_503_and_never_acks_without_storage(database_url: str) -> None:
    with running_hub(database_url, ingest_max_pending_events=2) as (base_url, hub):
        with admin_client(base_url) as admin:
            key = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "a"}).json()[
                "write_key"
            ]
        committer = hub.ingest.committer
        answers: dict[str, int] = {}

        def send(message_id: str) -> None:
            body = {"userId": "u1", "event": "E", "messageId": message_id}
            answers[message_id] = post(base_url, "/v1/track", body, key, timeout=60).status_code

        with WriteLock(database_url):
            first = threading.Thread(target=send, args=("m-1",))
            first.start()
            wait_for(lambda: committer.pending_events == 1)
            second = threading.Thread(target=send, args=("m-2",))
            second.start()
            wait_for(lambda: committer.pending_events == 2)
            refused = post(
                base_url, "/v1/track", {"userId": "u1", "event": "E", "messageId": "m-3"}, key
            )
            assert_error(refused, 503, "overloaded")
            assert refused.headers["retry-after"] == "1"
            assert "m-1" not in answers and "m-2" not in answers  # not acked while stalled
        first.join(60)
        second.join(60)
        assert answers == {"m-1": 200, "m-2": 200}
    stored = {row[0] for row in query(database_url, "SELECT id FROM events")}
    assert stored == {"m-1", "m-2"}


def test_nul_characters_are_refused_on_every_backend(
    served: tuple[str, Hub], write_key: str, database_url: str
) -> None:
    base_url, _ = served
    bad = post(
        base_url,
        "/v1/track",
        {"userId": "u1", "event": "E", "properties": {"x": "a\u0000b"}},
        write_key,
    )
    good = post(base_url, "/v1/track", {"userId": "u1", "event": "Fine"}, write_key)
    assert good.status_code == 200
    # PostgreSQL's JSONB has no NUL: refused before storage, on SQLite too, so an event
    # never depends on the backend it lands on.
    assert_error(bad, 400, "not_storable")
    assert count(database_url, "events") == 1


def test_unknown_endpoint(served: tuple[str, Hub], write_key: str) -> None:
    base_url, _ = served
    assert_error(post(base_url, "/v1/nope", {"userId": "u"}, write_key), 404, "not_found")
