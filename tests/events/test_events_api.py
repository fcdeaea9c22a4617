"""GET /api/v1/events (filters, cursor) and GET /api/v1/events/{id} (with extras)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.hub import Hub
from tests.events.conftest import assert_error
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as make_settings


def send_all(base_url: str, write_key: str) -> None:
    auth = httpx.BasicAuth(write_key, "")
    batch = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Viewed", "messageId": "m1"},
            {"type": "track", "userId": "u2", "event": "Bought", "messageId": "m2"},
            {"type": "identify", "userId": "u1", "messageId": "m3"},
            {"type": "page", "anonymousId": "a1", "name": "Home", "messageId": "m4"},
            {"type": "track", "userId": "u1", "event": "Bought", "messageId": "m5"},
        ]
    }
    assert httpx.post(f"{base_url}/v1/batch", json=batch, auth=auth).status_code == 200


def ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [event["id"] for event in answer.json()["data"]]


def test_list_filters_and_cursor(
    served: tuple[str, Hub], admin: httpx.Client, write_key: str
) -> None:
    base_url, _ = served
    send_all(base_url, write_key)
    assert ids(admin.get("/api/v1/events")) == ["m5", "m4", "m3", "m2", "m1"]
    assert ids(admin.get("/api/v1/events", params={"type": "track"})) == ["m5", "m2", "m1"]
    assert ids(admin.get("/api/v1/events", params={"type": "page,identify"})) == ["m4", "m3"]
    assert ids(admin.get("/api/v1/events", params={"name": "Bought"})) == ["m5", "m2"]
    assert ids(admin.get("/api/v1/events", params={"user_id": "u1"})) == ["m5", "m3", "m1"]
    assert ids(admin.get("/api/v1/events", params={"anonymous_id": "a1"})) == ["m4"]
    received = admin.get("/api/v1/events").json()["data"][0]["received_at"]
    assert len(ids(admin.get("/api/v1/events", params={"since": received}))) == 5
    assert ids(admin.get("/api/v1/events", params={"until": received})) == []
    assert ids(admin.get("/api/v1/events", params={"until": "2999-01-01T00:00:00Z"}))[0] == "m5"
    assert ids(admin.get("/api/v1/events", params={"since": "4102444800"})) == []  # unix seconds

    page = admin.get("/api/v1/events", params={"limit": 2}).json()
    seen = [event["id"] for event in page["data"]]
    while page["next_cursor"]:
        page = admin.get(
            "/api/v1/events", params={"limit": 2, "cursor": page["next_cursor"]}
        ).json()
        seen += [event["id"] for event in page["data"]]
    assert seen == ["m5", "m4", "m3", "m2", "m1"]

    assert_error(admin.get("/api/v1/events", params={"since": "yesterday"}), 400, "invalid_time")
    assert_error(admin.get("/api/v1/events", params={"cursor": "!!"}), 400, "invalid_cursor")
    assert_error(admin.get("/api/v1/events", params={"limit": 0}), 400, "invalid_limit")
    assert_error(httpx.get(f"{base_url}/api/v1/events"), 401, "unauthorized")


def test_detail_has_deliveries_and_flow_runs(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub(make_settings(database_url))

    async def flow_runs(connection: AsyncConnection, event_id: str) -> list[dict[str, Any]]:
        return [{"id": "run_1", "event_id": event_id}]

    monkeypatch.setattr(hub.flows, "runs_for_event", flow_runs)
    with running_hub(database_url, hub=hub) as (base_url, _), admin_client(base_url) as admin:
        key = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "a"}).json()[
            "write_key"
        ]
        send_all(base_url, key)
        detail = admin.get("/api/v1/events/m1").json()
        assert detail["id"] == "m1" and detail["name"] == "Viewed"
        assert detail["deliveries"] == []
        assert detail["flow_runs"] == [{"id": "run_1", "event_id": "m1"}]
        assert_error(admin.get("/api/v1/events/nope"), 404, "not_found")
