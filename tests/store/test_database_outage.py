"""A PostgreSQL that stops answering (issue 21.4): requests answer 503 JSON, never hang.

A blackhole proxy on 127.0.0.1 sits between the hub and PostgreSQL. When it stops
forwarding, the pooled connections wait for answers that never come and new ones are
accepted but never greeted. Every request must answer 503 with ``Retry-After`` before the
client's 10 s timeout (the client timing out fails the test), and what was acknowledged
before stays stored.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from renkei.hub import Hub
from renkei.observability.logging import configure_logging
from renkei.store import Database
from renkei.store.errors import DatabaseUnavailable
from tests.support.blackhole import BlackholeProxy
from tests.support.databases import DatabaseFactory
from tests.support.postgres import suite_host_port
from tests.support.server import admin_client, running_hub

CLIENT_TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def _json_logs() -> None:
    """Logging as ``renkei serve`` sets it up off a terminal. (The development console's
    tracebacks render every frame's locals on the event loop: seconds per failed claim.)"""
    configure_logging("info", "json")


@pytest.fixture
def pg_url(database_factory: DatabaseFactory) -> str:
    return database_factory.new_url("postgresql")


@pytest.fixture
def proxy() -> Iterator[BlackholeProxy]:
    host, port = suite_host_port().split(":")
    with BlackholeProxy(host, int(port)) as proxy:
        yield proxy


@pytest.fixture
def served(pg_url: str, proxy: BlackholeProxy) -> Iterator[tuple[str, Hub]]:
    through_proxy = pg_url.replace(suite_host_port(), proxy.host_port)
    assert through_proxy != pg_url
    # The product's timeouts (the suite's are longer), which CLIENT_TIMEOUT is above.
    with running_hub(
        through_proxy, database_connect_timeout_seconds=3.0, database_pool_timeout_seconds=5.0
    ) as served:
        yield served


def stored_ids(pg_url: str) -> set[str]:
    async def run() -> set[str]:
        database = Database(pg_url)
        try:
            async with database.read() as connection:
                return {row[0] for row in await connection.execute(text("SELECT id FROM events"))}
        finally:
            await database.dispose()

    return asyncio.run(run())


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["Retry-After"]) > 0
    error = response.json()["error"]
    assert error["code"] in ("database_unavailable", "unavailable"), error
    assert error["message"]


def test_requests_answer_503_while_the_database_does_not_answer(
    served: tuple[str, Hub], proxy: BlackholeProxy, pg_url: str
) -> None:
    base_url, _ = served
    with admin_client(base_url) as admin:
        admin.timeout = httpx.Timeout(CLIENT_TIMEOUT)
        source = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"})
        assert source.status_code == 201, source.text
        basic = base64.b64encode(f"{source.json()['write_key']}:".encode()).decode()
        hook = admin.post("/api/v1/sources", json={"kind": "webhook", "name": "hook"})
        assert hook.status_code == 201, hook.text
        hook_path = "/hooks/" + hook.json()["id"]
        acked = []
        for _ in range(3):
            published = admin.post("/api/v1/events", json={"type": "order.paid", "data": {}})
            assert published.status_code == 201, published.text
            acked.append(published.json()["id"])

        proxy.blackhole()
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/api/v1/events", {"json": {"type": "order.paid", "data": {"n": 1}}}),
            (
                "POST",
                "/api/v1/events",
                {"json": {"type": "order.paid"}, "headers": {"Idempotency-Key": "k-1"}},
            ),
            (
                "POST",
                "/v1/track",
                {
                    "json": {"userId": "u1", "event": "Signed Up"},
                    "headers": {"Authorization": f"Basic {basic}"},
                },
            ),
            ("POST", hook_path, {"json": {"type": "contact.created"}}),
            ("GET", "/api/v1/events", {}),
            ("GET", f"/api/v1/events/{acked[0]}", {}),
            ("PATCH", "/api/v1/event-types/order.paid", {"json": {"description": "x"}}),
            ("GET", "/readyz", {}),
        ]
        for method, path, options in requests:
            try:
                answer = admin.request(method, path, **options)
            except httpx.TimeoutException:
                pytest.fail(f"{method} {path} hung past the client's {CLIENT_TIMEOUT} s timeout")
            assert_unavailable(answer)

        proxy.forward()
        assert set(acked) <= stored_ids(pg_url)
        after = recovered(admin)
    assert set(acked) | {after} <= stored_ids(pg_url)


def recovered(admin: httpx.Client) -> str:
    """Publish as a client would once the database answers again: retry on 503 (the hub
    tries the database again a moment after a failure); the new event's id."""
    deadline = time.monotonic() + 30
    while True:
        answer = admin.post("/api/v1/events", json={"type": "order.paid", "data": {}})
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@pytest.mark.parametrize("idempotency_key", [None, "cut-1"])
def test_a_connection_cut_mid_publish_answers_503_json(
    served: tuple[str, Hub], proxy: BlackholeProxy, pg_url: str, idempotency_key: str | None
) -> None:
    base_url, _ = served
    headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
    with admin_client(base_url) as admin:
        admin.timeout = httpx.Timeout(CLIENT_TIMEOUT)
        warm = admin.post("/api/v1/events", json={"type": "order.paid", "data": {}})
        assert warm.status_code == 201, warm.text
        # The event's own bytes (its type, a bound parameter) cut the connection that
        # carries them: the transaction is open, the insert never arrives.
        proxy.cut_when_sent(b"cut.me")
        cut = admin.post(
            "/api/v1/events", json={"type": "cut.me", "data": {"a": 1}}, headers=headers
        )
        assert_unavailable(cut)
        proxy.cut_when_sent(None)
        again = recovered(admin)
    assert {warm.json()["id"], again} <= stored_ids(pg_url)


async def test_a_full_pool_is_load_not_an_outage(pg_url: str) -> None:
    """Waiting for a pooled connection is bounded too; a caller that gave up on a full pool
    does not make the next caller fail once a connection is free again."""
    database = Database(pg_url, pool_size=1, pool_timeout=0.5)
    try:
        async with database.read() as first, database.read() as second:
            with pytest.raises(DatabaseUnavailable):
                async with database.read():
                    pass
            assert first is not second
        async with database.read() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await database.dispose()
