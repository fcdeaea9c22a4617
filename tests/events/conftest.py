"""Shared fixtures for ingest tests: a served hub, an admin client, row counts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from renkei.hub import Hub
from renkei.store import Database
from tests.support.server import admin_client, running_hub


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[str, Hub]]:
    with running_hub(database_url) as served:
        yield served


@pytest.fixture
def admin(served: tuple[str, Hub]) -> Iterator[httpx.Client]:
    with admin_client(served[0]) as client:
        yield client


@pytest.fixture
def write_key(admin: httpx.Client) -> str:
    created = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"})
    assert created.status_code == 201, created.text
    return str(created.json()["write_key"])


def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    """Rows of ``sql``, read with a connection of our own (not the served hub's)."""

    async def run() -> list[Any]:
        database = Database(database_url)
        try:
            async with database.read() as connection:
                return list(await connection.execute(text(sql), params))
        finally:
            await database.dispose()

    return asyncio.run(run())


def count(database_url: str, table: str) -> int:
    return int(query(database_url, f"SELECT count(*) FROM {table}")[0][0])


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error
