"""The generic mapping of database errors to answers (issue 14.10).

A constraint the database enforces is the client's mistake: a 4xx naming the field, no
``Retry-After``. Only an unreachable database is ``503 database_unavailable``. The routes
below run real statements against a real database, served on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from renkei.api.errors import install_error_handlers
from renkei.store import Database
from renkei.store.tables.webhooks import event_types
from tests.support.postgres import suite_host_port
from tests.support.server import ServerThread, free_port

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _row(**values: Any) -> dict[str, Any]:
    row = {
        "name": "order.paid",
        "description": "",
        "archived": False,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return row | values


def _app(url: str) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    database = Database(url)

    @app.post("/null")
    async def insert_null() -> None:
        async with database.transaction() as tx:
            await tx.execute(insert(event_types).values(**_row(name="a", archived=None)))

    @app.post("/twice")
    async def insert_twice() -> None:
        async with database.transaction() as tx:
            await tx.execute(insert(event_types).values(**_row(name="b")))
        async with database.transaction() as tx:
            await tx.execute(insert(event_types).values(**_row(name="b")))

    return app


@pytest.fixture
def served(database_url: str) -> Iterator[httpx.Client]:
    with (
        ServerThread(_app(database_url), free_port()) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert "Retry-After" not in answer.headers
    error: dict[str, Any] = answer.json()["error"]
    return error


def test_not_null_violation_is_a_422_naming_the_field(served: httpx.Client) -> None:
    error = _error(served.post("/null"), 422)
    assert error["code"] == "field_required"
    assert error["message"].startswith("archived:")
    assert error["details"]["path"] == "archived"


def test_unique_violation_is_a_409_naming_the_field(served: httpx.Client) -> None:
    error = _error(served.post("/twice"), 409)
    assert error["code"] == "conflict"
    assert error["details"]["path"] == "name"


def test_an_unreachable_database_is_still_a_503(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("an embedded database cannot be unreachable")
    closed = free_port()  # nothing listens there
    url = database_url.replace(suite_host_port(), f"127.0.0.1:{closed}")
    with (
        ServerThread(_app(url), free_port()) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        answer = client.post("/null")
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "database_unavailable"
    assert answer.headers["Retry-After"]
