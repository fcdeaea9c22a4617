"""The real Segment and RudderStack Python SDKs, captured on loopback and fed to the parser."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from renkei.events.segment import ENDPOINTS, decode_body, extract_write_key, to_events

RECEIVED = datetime(2026, 1, 1, 12, tzinfo=UTC)


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: bytes


class _Capture(BaseHTTPRequestHandler):
    requests: list[Captured]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.requests.append(Captured(self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"success": true}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[tuple[str, list[Captured]]]:
    requests: list[Captured] = []
    handler = type("Handler", (_Capture,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requests
    finally:
        server.shutdown()
        server.server_close()


def parse(request: Captured) -> tuple[str, Any]:
    """What the ingest route will do with the request."""
    assert request.path.startswith("/v1/")
    endpoint = ENDPOINTS[request.path.removeprefix("/v1/")]
    headers = {key.lower(): value for key, value in request.headers.items()}
    payload = decode_body(
        endpoint,
        request.body,
        content_type=headers.get("content-type"),
        content_encoding=headers.get("content-encoding"),
    )
    write_key = extract_write_key(headers.get("authorization"), payload)
    counter = itertools.count()
    ingested = to_events(
        endpoint,
        payload,
        source_id="src_sdk",
        received_at=RECEIVED,
        new_id=lambda: f"evt_{next(counter)}",
    )
    return write_key, ingested.events


def exercise(client: Any) -> None:
    when = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)
    client.identify("user-1", {"email": "ada@example.com", "plan": "pro"}, timestamp=when)
    client.track("user-1", "Order Completed", {"total": 12.5}, message_id="order-42")
    client.page(anonymous_id="anon-1", name="Pricing", properties={"path": "/pricing"})
    client.screen("user-1", name="Home")
    client.group("user-1", "company-9", {"name": "Initech", "email": "billing@initech.example"})
    client.alias("anon-1", "user-1")


def check_events(events: list[Any], library: str) -> None:
    assert [event.type for event in events] == [
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    ]
    identify, track, page, screen, group, alias = events
    assert identify.user_id == "user-1"
    assert identify.email == "ada@example.com"
    assert identify.occurred_at == datetime(2025, 12, 31, 23, 59, tzinfo=UTC)
    assert track.id == "order-42"
    assert track.name == "Order Completed"
    assert track.data["properties"] == {"total": 12.5}
    assert page.anonymous_id == "anon-1"
    assert page.user_id is None
    assert page.name == "Pricing"
    assert screen.name == "Home"
    assert group.data["groupId"] == "company-9"
    assert group.email is None
    assert alias.data["previousId"] == "anon-1"
    for event in events:
        assert event.data["context"]["library"]["name"] == library
        assert event.source_id == "src_sdk"
        assert "writeKey" not in event.data
        assert event.id  # the SDKs send a uuid4 messageId
        assert event.received_at == RECEIVED
        # The SDKs stamp every call with the machine's clock: an explicit timestamp, kept.
        assert event.data["timestamp"] == event.data["originalTimestamp"]
        assert event.data["sentAt"]


@pytest.mark.parametrize("use_gzip", [False, True])
def test_segment_analytics_python(capture: tuple[str, list[Captured]], use_gzip: bool) -> None:
    host, requests = capture
    client = SegmentClient("wk_segment", host=host, sync_mode=True, gzip=use_gzip, max_retries=0)
    exercise(client)

    assert len(requests) == 6  # sync mode posts a one-item batch per call
    assert {request.path for request in requests} == {"/v1/batch"}
    first = requests[0]
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Authorization"].startswith("Basic ")
    assert ("Content-Encoding" in first.headers) == use_gzip
    events = []
    for request in requests:
        write_key, batch = parse(request)
        assert write_key == "wk_segment"
        events += batch
    check_events(events, "analytics-python")


def test_rudder_sdk_python(capture: tuple[str, list[Captured]]) -> None:
    host, requests = capture
    client = RudderClient("wk_rudder", host=host, sync_mode=True, max_retries=0)
    exercise(client)

    assert len(requests) == 6
    assert requests[0].headers["Content-Encoding"] == "gzip"  # rudder gzips by default
    events = []
    for request in requests:
        write_key, batch = parse(request)
        assert write_key == "wk_rudder"  # only in Basic auth: rudder sends no writeKey in the body
        events += batch
    check_events(events, "analytics-python")
    assert all(event.data["channel"] == "server" for event in events)


def test_segment_batching_consumer(capture: tuple[str, list[Captured]]) -> None:
    host, requests = capture
    client = SegmentClient(
        "wk_segment", host=host, gzip=True, upload_size=100, upload_interval=0.01, max_retries=0
    )
    for number in range(40):
        client.track(f"user-{number % 3}", "Clicked", {"n": number})
    client.flush()
    client.join()

    events = [event for request in requests for event in parse(request)[1]]
    assert sorted(event.data["properties"]["n"] for event in events) == list(range(40))
    assert len({event.id for event in events}) == 40
