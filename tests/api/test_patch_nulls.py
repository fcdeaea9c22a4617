"""PATCH with ``null`` for a field that cannot be null is a 422 naming it (issue 14.10).

``PATCH /api/v1/event-types/{name}`` with ``{"archived": null}`` used to reach the
database, whose NOT NULL refusal was answered ``503 database_unavailable`` with
``Retry-After``: clients retried for ever. Every PATCH body now refuses ``null`` except
for the fields where it means "clear" (``nullable``), before any SQL runs.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from renkei.api.routes import routers
from renkei.hub import Hub
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as settings_for


def _patch_models() -> list[type[BaseModel]]:
    # Never connected: the app is only looked at.
    url = f"sqlite:///{Path(tempfile.gettempdir()) / 'renkei-patch-models.db'}"
    hub = Hub(settings_for(url))
    models = []
    for route in [route for router in routers(hub) for route in router.routes]:
        if isinstance(route, APIRoute) and "PATCH" in (route.methods or ()) and route.body_field:
            model = route.body_field.field_info.annotation
            assert isinstance(model, type) and issubclass(model, BaseModel), route.path
            models.append(model)
    return models


PATCH_MODELS = _patch_models()


def _non_nullable(model: type[BaseModel]) -> list[str]:
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    return [name for name in model.model_fields if name not in nullable]


def test_every_patch_route_is_covered() -> None:
    names = {model.__name__ for model in PATCH_MODELS}
    assert {"EventTypePatch", "EndpointPatch", "SourcePatch", "FlowPatch"} <= names, names


@pytest.mark.parametrize(
    ("model", "field"),
    [(model, field) for model in PATCH_MODELS for field in _non_nullable(model)],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_null_is_refused_for_every_non_nullable_patch_field(
    model: type[BaseModel], field: str
) -> None:
    key = model.model_fields[field].alias or field
    with pytest.raises(ValidationError) as raised:
        model.model_validate({key: None})
    [error] = raised.value.errors()
    assert error["loc"] == (key,), error
    assert "null" in error["msg"]


@pytest.mark.parametrize("model", PATCH_MODELS, ids=lambda model: model.__name__)
def test_the_schema_offers_null_only_where_it_is_accepted(model: type[BaseModel]) -> None:
    properties = model.model_json_schema(by_alias=True)["properties"]
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, field in model.model_fields.items():
        prop = properties[field.alias or name]
        untyped = not {"type", "anyOf", "$ref", "allOf"} & set(prop)  # Any: null included
        accepts_null = untyped or {"type": "null"} in prop.get("anyOf", [])
        assert accepts_null == (name in nullable), (name, prop)


@pytest.fixture(scope="module", params=BACKENDS)
def api(
    request: pytest.FixtureRequest, database_factory: DatabaseFactory
) -> Iterator[httpx.Client]:
    """One hub per module and backend: each test makes its own objects (``unique``)."""
    database_url = database_factory.new_url(str(request.param))
    with (
        running_hub(database_url, with_worker=False) as (base_url, _),
        admin_client(base_url) as client,
    ):
        yield client


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


def _made(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _flow(unique: str) -> dict[str, Any]:
    return {
        "name": f"welcome-{unique}",
        "trigger": {"event_types": ["track"], "names": ["Signed Up"]},
        "steps": [{"id": "send", "action": {"url": "http://127.0.0.1:9/hook", "body": "{}"}}],
    }


HTTP_CASES = [
    ("event-types", "archived"),
    ("event-types", "description"),
    ("endpoints", "url"),
    ("endpoints", "disabled"),
    ("endpoints", "event_types"),
    ("endpoints", "timeout_seconds"),
    ("sources", "name"),
    ("sources", "enabled"),
    ("flows", "steps"),
    ("flows", "enabled"),
]


@pytest.mark.parametrize(("collection", "field"), HTTP_CASES)
def test_patch_null_answers_422_naming_the_field(
    api: httpx.Client, unique: str, collection: str, field: str
) -> None:
    if collection == "event-types":
        ref = _made(api.post("/api/v1/event-types", json={"name": f"order.paid-{unique}"}))["name"]
    elif collection == "endpoints":
        endpoint = {"name": f"crm-{unique}", "url": "http://127.0.0.1:9/h"}
        ref = _made(api.post("/api/v1/endpoints", json=endpoint))["id"]
    elif collection == "sources":
        source = {"kind": "webhook", "name": f"hook-{unique}"}
        ref = _made(api.post("/api/v1/sources", json=source))["id"]
    else:
        ref = _made(api.post(f"/api/v1/{collection}", json=_flow(unique)))["id"]
    before = api.get(f"/api/v1/{collection}/{ref}").json()

    answer = api.patch(f"/api/v1/{collection}/{ref}", json={field: None})

    assert answer.status_code == 422, answer.text
    assert "Retry-After" not in answer.headers
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"].startswith(f"{field}:"), error
    assert [problem["path"] for problem in error["details"]] == [field]
    assert api.get(f"/api/v1/{collection}/{ref}").json() == before


def test_null_still_clears_a_nullable_field(api: httpx.Client, unique: str) -> None:
    schema = {"type": "object"}
    name = f"order.paid-{unique}"
    _made(api.post("/api/v1/event-types", json={"name": name, "schema": schema}))
    cleared = api.patch(f"/api/v1/event-types/{name}", json={"schema": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["schema"] is None
