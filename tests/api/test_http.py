"""The HTTP skeleton through real HTTP on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from renkei.hub import Hub
from renkei.store import Database
from tests.support.rawscan import assert_not_stored
from tests.support.server import ADMIN_TOKEN, admin_client, running_hub


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[str, Hub]]:
    with running_hub(database_url, max_body_bytes=4096) as served:
        yield served


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_health_docs_and_metrics(served: tuple[str, Hub]) -> None:
    base_url, _ = served
    assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base_url}/readyz").json() == {"status": "ready"}
    assert httpx.get(f"{base_url}/openapi.json").json()["info"]["title"] == "Renkei"
    assert httpx.get(f"{base_url}/docs").status_code == 200
    metrics = httpx.get(f"{base_url}/metrics").text
    assert "renkei_http_requests_total" in metrics


def test_requests_carry_a_request_id(served: tuple[str, Hub]) -> None:
    base_url, _ = served
    response = httpx.get(f"{base_url}/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert httpx.get(f"{base_url}/healthz").headers["x-request-id"]


def test_authentication_and_scopes(served: tuple[str, Hub]) -> None:
    base_url, _ = served
    assert_error(httpx.get(f"{base_url}/api/v1/tokens"), 401, "unauthorized")
    assert_error(
        httpx.get(f"{base_url}/api/v1/tokens", headers={"Authorization": "Bearer nope"}),
        401,
        "unauthorized",
    )
    with admin_client(base_url) as admin:
        created = admin.post("/api/v1/tokens", json={"name": "dashboard", "scope": "read"})
        assert created.status_code == 201
        token = created.json()["token"]
        assert token.startswith("rk_read_")
        listed = admin.get("/api/v1/tokens").json()["data"]
        assert [t["name"] for t in listed] == ["dashboard"]
        assert "token" not in listed[0] and token not in str(listed)
    with admin_client(base_url, token) as reader:
        assert_error(reader.get("/api/v1/tokens"), 403, "forbidden")


def test_tokens_are_stored_hashed_and_revocable(served: tuple[str, Hub], database_url: str) -> None:
    base_url, _ = served
    with admin_client(base_url) as admin:
        issued = admin.post("/api/v1/tokens", json={"name": "ci", "scope": "admin"}).json()
        with admin_client(base_url, issued["token"]) as ci:
            assert ci.get("/api/v1/tokens").status_code == 200
        assert admin.delete(f"/api/v1/tokens/{issued['id']}").status_code == 204
        with admin_client(base_url, issued["token"]) as ci:
            assert_error(ci.get("/api/v1/tokens"), 401, "unauthorized")
        assert_error(admin.delete(f"/api/v1/tokens/{issued['id']}"), 404, "not_found")
        actions = [entry["action"] for entry in admin.get("/api/v1/audit").json()["data"]]
        assert actions == ["token.revoked", "token.created"]

    import asyncio

    async def scan() -> None:
        database = Database(database_url)
        try:
            await assert_not_stored(database, issued["token"], ADMIN_TOKEN)
        finally:
            await database.dispose()

    asyncio.run(scan())


def test_bad_input_gets_json_errors_never_500(served: tuple[str, Hub]) -> None:
    base_url, _ = served
    with admin_client(base_url) as admin:
        assert_error(
            admin.post(
                "/api/v1/tokens", content=b"{not json", headers={"Content-Type": "application/json"}
            ),
            400,
            "invalid_json",
        )
        invalid = admin.post("/api/v1/tokens", json={"name": "", "scope": "root"})
        assert_error(invalid, 422, "validation_failed")
        assert {d["path"] for d in invalid.json()["error"]["details"]} == {"name", "scope"}
        assert_error(admin.post("/api/v1/tokens", content=b"x" * 5000), 413, "payload_too_large")
        assert_error(admin.get("/api/v1/audit?limit=0"), 400, "invalid_limit")
        assert_error(admin.get("/api/v1/audit?cursor=%%%"), 400, "invalid_cursor")
        assert_error(admin.get("/api/v1/nothing-here"), 404, "not_found")
        assert_error(admin.put("/healthz"), 405, "method_not_allowed")


def test_streamed_body_over_the_limit_is_refused(served: tuple[str, Hub]) -> None:
    base_url, _ = served

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    with admin_client(base_url) as admin:
        response = admin.post(
            "/api/v1/tokens", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert_error(response, 413, "payload_too_large")
