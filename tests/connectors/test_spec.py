from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from renkei.clock import Clock, ManualClock
from renkei.connectors import (
    APIKeyAuth,
    Auth,
    CallContext,
    ConfigurationError,
    Connection,
    Connector,
    ConnectorMetrics,
    ConnectorSpec,
    Field,
    Operation,
    OperationResult,
    PermanentError,
    QuotaSpec,
    RateLimitSpec,
    RecordError,
    RecordOk,
)

CONTACT = {
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "format": "email"},
        "first_name": {"type": "string"},
    },
}


class Acme(Connector):
    """A toy CRM connector, written the way a vendor module would be."""

    spec = ConnectorSpec(
        name="acme",
        title="Acme CRM",
        docs_url="https://developers.acme.example/api",
        credentials=(Field("api_key", "Private app key", secret=True),),
        config=(
            Field("base_url", "API root"),
            Field(
                "lookup_field", "Field that identifies a contact", required=False, default="email"
            ),
        ),
        operations=(
            Operation(
                "upsert_contacts",
                "Create or update contacts by email",
                CONTACT,
                batchable=True,
                max_batch_size=3,
            ),
            Operation(
                "get_contact",
                "Read one contact",
                {"type": "object", "required": ["email"]},
                kind="read",
            ),
        ),
        rate_limit=RateLimitSpec(calls=100, per_seconds=10, concurrency=5),
        daily_quota=QuotaSpec(calls=1000, reset=time(0), timezone="America/Chicago"),
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config["base_url"])

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        return APIKeyAuth(connection.credentials["api_key"], name="Authorization", prefix="Key ")

    async def upsert_contacts(
        self, records: list[dict[str, Any]], ctx: CallContext
    ) -> OperationResult:
        response = await ctx.http.request(
            "POST",
            "/contacts/batch",
            operation="upsert_contacts",
            json={"idProperty": ctx.config["lookup_field"], "inputs": records},
        )
        results: list[RecordOk | RecordError] = []
        for i, outcome in enumerate(response.json()["results"]):
            if outcome["status"] == "error":
                results.append(RecordError(i, outcome["code"], outcome["message"]))
            else:
                results.append(RecordOk(i, id=str(outcome["id"]), status=outcome["status"]))
        return OperationResult(records=tuple(results))

    async def get_contact(self, input: dict[str, Any], ctx: CallContext) -> OperationResult:
        response = await ctx.http.request(
            "GET", "/contacts", operation="get_contact", params={"email": input["email"]}
        )
        return OperationResult(data=response.json())


def acme_app(received: list[Any]) -> Starlette:
    async def batch(request: Request) -> JSONResponse:
        assert request.headers["authorization"] == "Key acme-secret-key"
        body = await request.json()
        received.append(body)
        results = [
            {"status": "error", "code": "INVALID_EMAIL", "message": "domain is blocked"}
            if r["email"].endswith("@blocked.example")
            else {"status": "created", "id": 100 + i}
            for i, r in enumerate(body["inputs"])
        ]
        return JSONResponse({"results": results})

    async def contact(request: Request) -> JSONResponse:
        return JSONResponse({"email": request.query_params["email"], "id": 7})

    return Starlette(
        routes=[Route("/contacts/batch", batch, methods=["POST"]), Route("/contacts", contact)]
    )


@pytest.fixture
def acme(serve: Callable[[ASGIApp], str], metrics: ConnectorMetrics) -> Any:
    received: list[Any] = []
    url = serve(acme_app(received))
    connection = Connection(
        "acme-prod", credentials={"api_key": "acme-secret-key"}, config={"base_url": url}
    )
    ctx = Acme().open(connection, clock=ManualClock(), metrics=metrics)
    return ctx, received


async def test_batch_reports_per_record_results_in_input_order(acme: Any) -> None:
    ctx, received = acme
    async with ctx:
        result = await Acme().call(
            "upsert_contacts",
            [
                {"email": "new@example.com"},
                {"first_name": "no email"},
                {"email": "x@blocked.example"},
            ],
            ctx,
        )
    assert received == [
        {
            "idProperty": "email",
            "inputs": [{"email": "new@example.com"}, {"email": "x@blocked.example"}],
        }
    ]
    assert not result.ok
    assert result.records[0] == RecordOk(0, id="100", status="created")
    assert isinstance(result.records[1], RecordError)
    assert (result.records[1].index, result.records[1].code) == (1, "invalid_input")
    assert "email" in result.records[1].message
    assert result.records[2] == RecordError(2, "INVALID_EMAIL", "domain is blocked")
    assert [r.index for r in result.failed] == [1, 2]


async def test_read_operation_returns_data(acme: Any) -> None:
    ctx, _ = acme
    async with ctx:
        result = await Acme().call("get_contact", {"email": "a@example.com"}, ctx)
    assert result.ok and result.data == {"email": "a@example.com", "id": 7}


async def test_call_rejects_bad_input_before_sending(acme: Any) -> None:
    ctx, received = acme
    async with ctx:
        with pytest.raises(PermanentError, match="at most 3"):
            await Acme().call("upsert_contacts", [{"email": "a@b.c"}] * 4, ctx)
        with pytest.raises(PermanentError, match="list of records"):
            await Acme().call("upsert_contacts", {"email": "a@b.c"}, ctx)
        with pytest.raises(PermanentError) as caught:
            await Acme().call("get_contact", {"id": 1}, ctx)
        assert caught.value.code == "invalid_input"
        with pytest.raises(PermanentError) as caught:
            await Acme().call("delete_everything", {}, ctx)
        assert caught.value.code == "unknown_operation"
    assert received == []


async def test_a_record_the_connector_forgot_is_reported(acme: Any) -> None:
    class Forgetful(Acme):
        async def upsert_contacts(
            self, records: list[dict[str, Any]], ctx: CallContext
        ) -> OperationResult:
            return OperationResult(records=(RecordOk(1),))

    ctx, _ = acme
    async with ctx:
        result = await Forgetful().call(
            "upsert_contacts", [{"email": "a@example.com"}, {"email": "b@example.com"}], ctx
        )
    assert isinstance(result.records[0], RecordError)
    assert result.records[0].code == "missing_result"
    assert result.records[1] == RecordOk(1)


def test_settings_are_checked_without_showing_values() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Acme().open(Connection("c", credentials={"api_keyy": "leaky-value"}, config={}))
    message = str(caught.value)
    assert "missing credential 'api_key'" in message
    assert "unknown credential 'api_keyy'" in message
    assert "missing config 'base_url'" in message
    assert "leaky-value" not in message
    assert "leaky-value" not in repr(Connection("c", credentials={"api_key": "leaky-value"}))


def test_spec_as_dict_is_json_ready() -> None:
    described = json.loads(json.dumps(Acme.spec.as_dict()))
    assert described["credentials"] == [
        {
            "name": "api_key",
            "description": "Private app key",
            "secret": True,
            "required": True,
            "default": None,
        }
    ]
    assert described["operations"][0]["max_batch_size"] == 3
    assert described["daily_quota"] == {
        "calls": 1000,
        "reset": "00:00:00",
        "timezone": "America/Chicago",
    }
    assert described["rate_limit"] == {"calls": 100, "per_seconds": 10, "concurrency": 5}


def test_open_fills_config_defaults() -> None:
    connection = Connection("c", credentials={"api_key": "k"}, config={"base_url": "http://x"})
    ctx = Acme().open(connection, clock=ManualClock())
    assert ctx.config == {"base_url": "http://x", "lookup_field": "email"}


def test_spec_declarations_are_validated() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        Operation("upsert", "x", batchable=True)
    with pytest.raises(ValueError, match="max_batch_size"):
        Operation("upsert", "x", max_batch_size=10)
    with pytest.raises(ValueError, match="snake_case"):
        Operation("Upsert-Leads", "x")
    with pytest.raises(ValueError, match="duplicate operation"):
        ConnectorSpec("x", "X", "https://x", operations=(Operation("a", ""), Operation("a", "")))
    with pytest.raises(Exception, match="is not valid"):
        Operation("a", "", {"type": "no-such-type"})
    with pytest.raises(Exception, match="America/Nowhere"):
        QuotaSpec(calls=1, timezone="America/Nowhere")


def test_a_connector_must_implement_every_declared_operation() -> None:
    with pytest.raises(TypeError, match="get_contact"):

        class Half(Connector):
            spec = ConnectorSpec(
                "half", "Half", "https://x", operations=(Operation("get_contact", ""),)
            )

            def base_url(self, config: Mapping[str, Any]) -> str:
                return ""


async def test_rotated_credentials_reach_the_persistence_callback() -> None:
    stored: list[tuple[str, str]] = []

    async def on_rotate(field: str, value: str) -> None:
        stored.append((field, value))

    persist = Connection("c", on_rotate=on_rotate).rotation_callback("refresh_token")
    assert persist is not None
    await persist("rt-new")
    assert stored == [("refresh_token", "rt-new")]
    assert Connection("c").rotation_callback("refresh_token") is None


def test_the_sdk_stays_database_free() -> None:
    code = "import sys, renkei.connectors; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
