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


def test_patching_an_event_type_with_nulls_is_a_422_naming_the_fields(
    admin: httpx.Client,
) -> None:
    """Was a 503 "database unavailable": null reached NOT NULL columns."""
    created = admin.post(
        "/api/v1/event-types", json={"name": "receipt.validated", "description": "A receipt"}
    )
    assert created.status_code == 201, created.text
    patched = admin.patch(
        "/api/v1/event-types/receipt.validated",
        json={"archived": None, "description": None, "example": {}, "schema": None},
    )
    assert patched.status_code == 422, patched.text
    assert {d["path"] for d in patched.json()["error"]["details"]} == {"archived", "description"}
    fetched = admin.get("/api/v1/event-types/receipt.validated").json()
    assert fetched["description"] == "A receipt"
    assert fetched["archived"] is False
    cleared = admin.patch(
        "/api/v1/event-types/receipt.validated", json={"example": {}, "schema": None}
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["example"] == {}


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


@pytest.mark.parametrize("moment", ["2026-07-15", "2026-07-15T10:00:00", "2026-07-15T10:00:00Z"])
def test_times_without_a_zone_are_utc(admin: httpx.Client, moment: str) -> None:
    """Were a 500: a naive datetime reached a UTC column."""
    listed = admin.get("/api/v1/deliveries", params={"since": moment, "until": moment})
    assert listed.status_code == 200, listed.text
    endpoint = admin.post(
        "/api/v1/endpoints", json={"name": "crm", "url": "https://crm.example.com/hooks"}
    ).json()
    recovered = admin.post(f"/api/v1/endpoints/{endpoint['id']}/recover", json={"since": moment})
    assert recovered.status_code == 202, recovered.text


def test_a_profile_filter_on_an_unknown_connection_is_a_documented_404(
    admin: httpx.Client,
) -> None:
    response = admin.get(
        "/api/v1/profiles", params={"kind": "marketo_lead_id", "value": "1", "connection": "nope"}
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    documented = admin.get("/openapi.json").json()["paths"]["/api/v1/profiles"]["get"]
    assert documented["responses"]["404"] == {"$ref": "#/components/responses/NotFound"}
