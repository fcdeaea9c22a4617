"""What schemathesis found (tests/api/test_openapi_fuzz.py), each pinned by a plain test.

Real HTTP on loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import admin_client, running_hub


@pytest.fixture
def admin(database_url: str) -> Iterator[httpx.Client]:
    with (
        running_hub(database_url, with_worker=False) as (base_url, _hub),
        admin_client(base_url) as client,
    ):
        yield client


def test_patching_an_event_type_with_nulls_changes_nothing(admin: httpx.Client) -> None:
    """Was a 503 "database unavailable": null reached NOT NULL columns."""
    created = admin.post(
        "/api/v1/event-types", json={"name": "receipt.validated", "description": "A receipt"}
    )
    assert created.status_code == 201, created.text
    patched = admin.patch(
        "/api/v1/event-types/receipt.validated",
        json={"archived": None, "description": None, "example": {}, "schema": None},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "A receipt"
    assert patched.json()["archived"] is False
    assert patched.json()["example"] == {}


@pytest.mark.parametrize("data", [None, [1, 2], "text", 12])
def test_publishing_data_that_is_not_an_object_is_refused(admin: httpx.Client, data: Any) -> None:
    """Was stored, and then the event log answered 500 for every listing that held it."""
    published = admin.post("/api/v1/events", json={"type": "receipt.validated", "data": data})
    assert published.status_code == 422, published.text
    assert published.json()["error"]["code"] == "validation_failed"
    listed = admin.get("/api/v1/events")
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == []


def test_a_replayed_publish_answers_a_documented_200(admin: httpx.Client) -> None:
    body = {"type": "receipt.validated", "id": "evt-1", "data": {"receipt_id": "r-1"}}
    assert admin.post("/api/v1/events", json=body).status_code == 201
    assert admin.post("/api/v1/events", json=body).status_code == 200
    responses = admin.get("/openapi.json").json()["paths"]["/api/v1/events"]["post"]["responses"]
    assert {"200", "201"} <= set(responses)


@pytest.mark.parametrize("example", [0, 1.5, "text", True, [1], {"a": 1}])
def test_an_event_type_example_reads_back_whatever_json_it_is(
    admin: httpx.Client, example: Any
) -> None:
    """Was a 500 on SQLite for a number: a JSON column has NUMERIC affinity there."""
    created = admin.post(
        "/api/v1/event-types", json={"name": "receipt.validated", "example": example}
    )
    assert created.status_code == 201, created.text
    assert created.json()["example"] == example
    patched = admin.patch("/api/v1/event-types/receipt.validated", json={"example": example})
    assert patched.status_code == 200, patched.text
    fetched = admin.get("/api/v1/event-types/receipt.validated")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["example"] == example
