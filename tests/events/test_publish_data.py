"""Event ``data`` is an object; no stored row breaks the event log's readers (issue 14.11).

``POST /api/v1/events`` used to accept ``data`` as a list, string, number or null (201),
and from then on ``GET /api/v1/events`` and ``GET /api/v1/events/{id}`` answered 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from renkei.delivery.problems import InvalidProblem
from renkei.delivery.publishing import publish
from renkei.events.history import latest_seq
from renkei.hub import Hub
from renkei.store import Database
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as settings_for


@pytest.fixture
def api(database_url: str) -> Iterator[httpx.Client]:
    with (
        running_hub(database_url, with_worker=False) as (base_url, _),
        admin_client(base_url) as client,
    ):
        yield client


NOW = datetime(2026, 1, 1, tzinfo=UTC)
NOT_OBJECTS = [[1, 2], "text", 3, 2.5, True, None]


@pytest.mark.parametrize("data", NOT_OBJECTS, ids=repr)
@pytest.mark.parametrize("idempotency_key", [None, "key-1"])
def test_publish_refuses_data_that_is_not_an_object(
    api: httpx.Client, data: Any, idempotency_key: str | None
) -> None:
    headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
    answer = api.post("/api/v1/events", json={"type": "order.paid", "data": data}, headers=headers)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"].startswith("data:"), error
    assert api.get("/api/v1/events").json()["data"] == []


def _insert_raw(database_url: str, rows: list[tuple[str, str]]) -> None:
    """Rows written behind the API's back: (id, data as the database stores it)."""

    async def run() -> None:
        database = Database(database_url)
        try:
            value = ":data" if database.is_sqlite else "CAST(:data AS jsonb)"
            at: object = "2026-01-01 00:00:00.000000" if database.is_sqlite else NOW
            async with database.transaction() as tx:
                for event_id, data in rows:
                    await tx.execute(
                        text(
                            "INSERT INTO events (id, type, data, occurred_at, received_at) "
                            f"VALUES (:id, 'legacy', {value}, :at, :at)"
                        ),
                        {"id": event_id, "data": data, "at": at},
                    )
        finally:
            await database.dispose()

    asyncio.run(run())


def test_a_stored_row_with_any_data_never_breaks_the_readers(
    api: httpx.Client, database_url: str
) -> None:
    good = api.post("/api/v1/events", json={"type": "order.paid", "data": {"a": 1}})
    assert good.status_code == 201, good.text
    rows = [
        ("evt_list", "[1, 2]"),
        ("evt_string", '"text"'),
        ("evt_number", "3"),
        ("evt_null", "null"),
    ]
    if database_url.startswith("sqlite"):
        rows.append(("evt_garbage", "not json {"))
    _insert_raw(database_url, rows)

    listed = api.get("/api/v1/events", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    by_id = {event["id"]: event for event in listed.json()["data"]}
    assert by_id[good.json()["id"]]["data"] == {"a": 1}
    for event_id, _ in rows:
        assert isinstance(by_id[event_id]["data"], dict), by_id[event_id]
        one = api.get(f"/api/v1/events/{event_id}")
        assert one.status_code == 200, one.text
        assert one.json()["data"] == by_id[event_id]["data"]
    assert by_id["evt_list"]["data"] == {"value": [1, 2]}
    assert by_id["evt_null"]["data"] == {"value": None}
    assert api.get("/api/v1/events", params={"type": "legacy"}).status_code == 200


@pytest.mark.parametrize("data", NOT_OBJECTS, ids=repr)
async def test_the_publish_service_refuses_data_that_is_not_an_object(
    database_url: str, data: Any
) -> None:
    """``renkei events publish`` calls the service, not the HTTP route."""
    hub = Hub(settings_for(database_url))
    await hub.start(with_worker=False)
    try:
        with pytest.raises(InvalidProblem) as refused:
            await publish(hub.webhooks, event_type="order.paid", data=data)
        assert refused.value.details == {"path": "data"}
        async with hub.database.read() as connection:
            assert await latest_seq(connection) == 0
    finally:
        await hub.stop()
