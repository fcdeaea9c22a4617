"""The official tracking SDKs in their default configuration, against a live Renkei.

Each SDK sends identify/track/page/group/alias with its defaults (batched, gzipped where
the SDK gzips by default) and is closed, which flushes; every event must be stored. The
Node SDKs are the real packages from npm, pinned in ``tests/sdks/node/package-lock.json``
and installed by ``scripts/test`` (``npm ci --prefix tests/sdks/node``).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from renkei.hub import Hub

NODE_DIR = Path(__file__).resolve().parents[1] / "sdks" / "node"
TYPES = ["identify", "track", "page", "group", "alias"]


def stored(admin: httpx.Client) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = admin.get("/api/v1/events", params={"limit": 100}).json()["data"]
    return events


def check(events: list[dict[str, Any]], run: str, library: str) -> None:
    assert sorted(event["type"] for event in events) == sorted(TYPES)
    by_type = {event["type"]: event for event in events}
    assert by_type["identify"]["user_id"] == f"{run}-user"
    assert by_type["identify"]["email"] == f"{run}@example.com"
    assert by_type["track"]["name"] == "Order Completed"
    assert by_type["track"]["data"]["properties"] == {"total": 12.5}
    assert by_type["page"]["anonymous_id"] == f"{run}-anon"
    assert by_type["page"]["name"] == "Pricing"
    assert by_type["group"]["data"]["groupId"] == f"{run}-company"
    assert by_type["alias"]["data"]["previousId"] == f"{run}-anon"
    for event in events:
        assert library in event["data"]["context"]["library"]["name"]
        assert "writeKey" not in event["data"]


@pytest.mark.parametrize(
    ("sdk", "library"), [("segment", "analytics-node"), ("rudderstack", "analytics-node")]
)
def test_node_sdk_in_its_default_configuration(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str, sdk: str, library: str
) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the Node SDK tests"
    assert (NODE_DIR / "node_modules").is_dir(), "run: npm ci --prefix tests/sdks/node"
    base_url, _ = served
    run = uuid.uuid4().hex[:8]
    finished = subprocess.run(
        [node, str(NODE_DIR / "drive.cjs"), sdk, base_url, write_key, run],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    check(stored(admin), run, library)


def _send_with(client: Any, run: str) -> None:
    client.identify(f"{run}-user", {"email": f"{run}@example.com", "plan": "pro"})
    client.track(f"{run}-user", "Order Completed", {"total": 12.5})
    client.page(anonymous_id=f"{run}-anon", name="Pricing", properties={"path": "/pricing"})
    client.group(f"{run}-user", f"{run}-company", {"name": "Initech"})
    client.alias(f"{run}-anon", f"{run}-user")
    client.flush()
    client.shutdown()


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_python_sdk_in_its_default_configuration(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str, sdk: str
) -> None:
    base_url, _ = served
    errors: list[Any] = []
    make = SegmentClient if sdk == "segment" else RudderClient
    client = make(write_key, host=base_url, on_error=lambda error, items: errors.append(error))
    run = uuid.uuid4().hex[:8]
    _send_with(client, run)
    assert not errors
    check(stored(admin), run, "analytics-python")


def test_analytics_js_browser_requests(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str
) -> None:
    """analytics.js (analytics-next) as a browser sends it: one ``fetch`` per call to
    ``/v1/i|t|p|g|a``, ``Content-Type: text/plain`` (no preflight), the write key and
    ``sentAt`` in the body, no Authorization header."""
    base_url, _ = served
    run = uuid.uuid4().hex[:8]
    context = {
        "library": {"name": "analytics.js", "version": "next-1.81.0"},
        "page": {
            "path": "/pricing",
            "referrer": "",
            "search": "",
            "title": "Pricing",
            "url": "https://shop.example/pricing",
        },
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        "locale": "en-US",
    }
    calls: list[tuple[str, dict[str, Any]]] = [
        ("i", {"type": "identify", "userId": f"{run}-user", "traits": {"email": f"{run}@example.com"}}),
        ("t", {"type": "track", "userId": f"{run}-user", "event": "Order Completed", "properties": {"total": 12.5}}),
        ("p", {"type": "page", "anonymousId": f"{run}-anon", "name": "Pricing", "properties": {"path": "/pricing"}}),
        ("g", {"type": "group", "userId": f"{run}-user", "groupId": f"{run}-company", "traits": {}}),
        ("a", {"type": "alias", "userId": f"{run}-user", "previousId": f"{run}-anon"}),
    ]  # fmt: skip
    for path, call in calls:
        body = {
            **call,
            "anonymousId": call.get("anonymousId", f"{run}-anon"),
            "messageId": f"ajs-next-{uuid.uuid4().hex}",
            "timestamp": "2026-01-01T10:00:00.000Z",
            "integrations": {},
            "context": context,
            "writeKey": write_key,
            "sentAt": "2026-01-01T10:00:00.250Z",
            "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
        }
        answer = httpx.post(
            f"{base_url}/v1/{path}",
            content=orjson.dumps(body),
            headers={
                "Content-Type": "text/plain;charset=UTF-8",
                "Origin": "https://shop.example",
                "Referer": "https://shop.example/pricing",
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == "*"
    events = stored(admin)
    check(events, run, "analytics.js")
    for event in events:
        # the browser's clock is corrected: receivedAt - (sentAt - timestamp)
        assert event["data"]["originalTimestamp"] == "2026-01-01T10:00:00.000Z"
        received = datetime.fromisoformat(event["received_at"])
        assert datetime.fromisoformat(event["occurred_at"]) == received - timedelta(
            milliseconds=250
        )


def test_analytics_js_batched_requests(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str
) -> None:
    """analytics.js with batching (``deliveryStrategy: batching``) posts ``/v1/b`` as
    ``text/plain``; some versions put the write key only in each event, not beside the
    batch: either way every event is stored."""
    base_url, _ = served
    for run, top_level in ((uuid.uuid4().hex[:8], False), (uuid.uuid4().hex[:8], True)):
        items = [
            {
                "type": "track",
                "event": f"Clicked {number}",
                "anonymousId": f"{run}-anon",
                "messageId": f"ajs-next-{uuid.uuid4().hex}",
                "timestamp": "2026-01-01T10:00:00.000Z",
                "context": {"library": {"name": "analytics.js", "version": "next-1.81.0"}},
                "integrations": {},
                "writeKey": write_key,
            }
            for number in range(3)
        ]
        body: dict[str, Any] = {"batch": items, "sentAt": "2026-01-01T10:00:01.000Z"}
        if top_level:
            body["writeKey"] = write_key
        answer = httpx.post(
            f"{base_url}/v1/b",
            content=orjson.dumps(body),
            headers={"Content-Type": "text/plain;charset=UTF-8"},
        )
        assert answer.status_code == 200, answer.text
        mine = [e for e in stored(admin) if e["anonymous_id"] == f"{run}-anon"]
        assert sorted(e["name"] for e in mine) == [f"Clicked {n}" for n in range(3)]
        assert all("writeKey" not in e["data"] for e in mine)
