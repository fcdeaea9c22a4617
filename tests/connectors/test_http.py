from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from renkei.clock import ManualClock
from renkei.connectors import (
    REDACTED,
    APIKeyAuth,
    Backoff,
    ClientCredentialsAuth,
    ConfigurationError,
    ConnectorError,
    ConnectorMetrics,
    InMemoryDailyQuota,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
    RetryableError,
    redact_headers,
    redact_url,
)

from .conftest import RecordingClock, make_http, sample

NO_RETRY = Backoff(attempts=1)
LABELS = {"connector": "test", "operation": "op", "connection": "conn"}


class Scripted:
    """Answers each path from a script of (status, headers, body); the last entry repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[tuple[int, dict[str, str], Any]]] = {}
        self.hits: Counter[str] = Counter()
        self.app = Starlette(
            routes=[
                Route("/s/{name}", self.scripted, methods=["GET", "POST"]),
                Route("/status/{code:int}", self.status, methods=["GET", "POST"]),
                Route("/slow", self.slow),
                Route("/html", self.html),
            ]
        )

    def script(self, name: str, *steps: tuple[int, dict[str, str], Any]) -> str:
        self.scripts[name] = list(steps)
        return f"/s/{name}"

    async def scripted(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.hits[name] += 1
        steps = self.scripts[name]
        status, headers, body = steps.pop(0) if len(steps) > 1 else steps[0]
        return JSONResponse(body, status_code=status, headers=headers)

    async def status(self, request: Request) -> Response:
        code = request.path_params["code"]
        self.hits[str(code)] += 1
        headers = {"Retry-After": "3"} if code in (429, 503) else {}
        if code == 302:
            headers["Location"] = "/elsewhere"
        return JSONResponse({"message": f"status {code}"}, status_code=code, headers=headers)

    async def html(self, request: Request) -> Response:
        return Response("<html>Bad Gateway</html>", status_code=502, media_type="text/html")

    async def slow(self, request: Request) -> Response:
        await asyncio.sleep(0.5)
        return JSONResponse({})


@pytest.fixture
def vendor(serve: Callable[[ASGIApp], str]) -> tuple[Scripted, str]:
    v = Scripted()
    return v, serve(v.app)


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (400, PermanentError, "400"),
        (404, PermanentError, "404"),
        (409, PermanentError, "409"),
        (302, PermanentError, "302"),
        (401, ConfigurationError, "401"),  # static credentials: nothing to refresh
        (408, RetryableError, "408"),
        (429, RateLimitedError, "429"),
        (500, RetryableError, "500"),
        (502, RetryableError, "502"),
        (503, RetryableError, "503"),
    ],
)
async def test_status_codes_map_to_the_taxonomy(
    vendor: tuple[Scripted, str],
    metrics: ConnectorMetrics,
    status: int,
    error: type[ConnectorError],
    code: str,
) -> None:
    _, url = vendor
    async with make_http(url, metrics, backoff=NO_RETRY) as http:
        with pytest.raises(error) as caught:
            await http.request("GET", f"/status/{status}", operation="op")
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.status_code == status
    assert f"status {status}" in str(caught.value)  # the vendor's own message is kept
    if status in (429, 503):
        assert isinstance(caught.value, RetryableError)
        assert caught.value.retry_after == 3
    assert sample(metrics, "renkei_connector_errors_total", code=code, **LABELS) == 1


async def test_retry_after_is_honoured(
    vendor: tuple[Scripted, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    path = v.script(
        "busy",
        (429, {"Retry-After": "7"}, {}),
        (429, {"Retry-After": "7"}, {}),
        (200, {}, {"ok": True}),
    )
    clock = RecordingClock()
    async with make_http(url, metrics, clock=clock, backoff=Backoff(jitter=0)) as http:
        response = await http.request("GET", path, operation="op")
    assert response.json() == {"ok": True}
    assert clock.sleeps == [7, 7]
    assert v.hits["busy"] == 3
    assert sample(metrics, "renkei_connector_retries_total", **LABELS) == 2
    assert sample(metrics, "renkei_connector_calls_total", **LABELS) == 3
    assert sample(metrics, "renkei_connector_call_duration_seconds_count", **LABELS) == 3


async def test_5xx_backs_off_exponentially_then_gives_up(
    vendor: tuple[Scripted, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    path = v.script("down", (500, {}, {"message": "internal"}))
    clock = RecordingClock()
    backoff = Backoff(attempts=4, base=1, jitter=0)
    async with make_http(url, metrics, clock=clock, backoff=backoff) as http:
        with pytest.raises(RetryableError, match="internal"):
            await http.request("GET", path, operation="op")
    assert clock.sleeps == [1, 2, 4]
    assert v.hits["down"] == 4


async def test_a_long_retry_after_is_left_to_the_queue(
    vendor: tuple[Scripted, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    path = v.script("later", (429, {"Retry-After": "3600"}, {}))
    clock = RecordingClock()
    async with make_http(url, metrics, clock=clock) as http:
        with pytest.raises(RateLimitedError) as caught:
            await http.request("GET", path, operation="op")
    assert caught.value.retry_after == 3600
    assert clock.sleeps == []
    assert v.hits["later"] == 1


async def test_non_idempotent_writes_retry_only_what_never_landed(
    vendor: tuple[Scripted, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    failed = v.script("failed", (503, {}, {}))
    throttled = v.script("throttled", (429, {}, {}), (201, {}, {"id": 1}))
    async with make_http(url, metrics, backoff=Backoff(jitter=0)) as http:
        with pytest.raises(RetryableError):
            await http.request("POST", failed, operation="create", json={}, idempotent=False)
        response = await http.request(
            "POST", throttled, operation="create", json={}, idempotent=False
        )
    assert response.status_code == 201
    assert (v.hits["failed"], v.hits["throttled"]) == (1, 2)


async def test_timeout_is_retryable(
    vendor: tuple[Scripted, str], metrics: ConnectorMetrics
) -> None:
    _, url = vendor
    async with make_http(url, metrics, backoff=NO_RETRY, timeout=0.05) as http:
        with pytest.raises(RetryableError) as caught:
            await http.request("GET", "/slow", operation="op")
    assert caught.value.code == "timeout"


async def test_connection_refused_is_retried_even_for_writes(metrics: ConnectorMetrics) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    clock = RecordingClock()
    backoff = Backoff(attempts=2, base=1, jitter=0)
    async with make_http(f"http://127.0.0.1:{port}", metrics, clock=clock, backoff=backoff) as http:
        with pytest.raises(RetryableError) as caught:
            await http.request("POST", "/x", operation="op", json={}, idempotent=False)
    assert caught.value.code == "connect"
    assert clock.sleeps == [1]


async def test_classify_hook_reads_errors_inside_a_200(
    vendor: tuple[Scripted, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    path = v.script(
        "marketo",
        (200, {}, {"success": False, "errors": [{"code": "606", "message": "Max rate limit"}]}),
        (200, {}, {"success": True, "result": [{"id": 5}]}),
    )

    def classify(response: httpx.Response, now: datetime) -> ConnectorError | None:
        body = response.json()
        if body.get("success") is False and body["errors"][0]["code"] == "606":
            return RateLimitedError("Marketo 606", retry_after=20, code="606")
        return None

    clock = RecordingClock()
    async with make_http(url, metrics, clock=clock, classify=classify) as http:
        response = await http.request("GET", path, operation="op")
    assert response.json()["result"] == [{"id": 5}]
    assert clock.sleeps == [20]
    assert sample(metrics, "renkei_connector_errors_total", code="606", **LABELS) == 1


async def test_classify_hook_that_cannot_parse_defers_to_the_status(
    vendor: tuple[Scripted, str], metrics: ConnectorMetrics
) -> None:
    _, url = vendor

    def classify(response: httpx.Response, now: datetime) -> ConnectorError | None:
        response.json()  # a proxy's HTML error page is not JSON
        return None

    async with make_http(url, metrics, classify=classify, backoff=NO_RETRY) as http:
        with pytest.raises(RetryableError) as caught:
            await http.request("GET", "/html", operation="op")
    assert caught.value.code == "502"


async def test_quota_is_checked_before_sending(
    vendor: tuple[Scripted, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    path = v.script("ok", (200, {}, {}))
    clock = ManualClock()
    quota = InMemoryDailyQuota(2, timezone="America/Chicago", clock=clock)
    async with make_http(url, metrics, clock=clock, quota=quota) as http:
        await http.request("GET", path, operation="op")
        await http.request("GET", path, operation="op")
        with pytest.raises(QuotaExhaustedError) as caught:
            await http.request("GET", path, operation="op")
    assert caught.value.resets_at == (await quota.usage()).resets_at
    assert v.hits["ok"] == 2
    labels = {"connector": "test", "connection": "conn"}
    assert sample(metrics, "renkei_connector_quota_remaining", **labels) == 0
    assert sample(metrics, "renkei_connector_quota_used_total", operation="op", **labels) == 2


def test_redaction_helpers() -> None:
    url = "https://u:pw@x.example/identity/oauth/token?client_id=abc&client_secret=shh&a=1"
    redacted = redact_url(url)
    assert "shh" not in redacted and "pw" not in redacted
    assert redacted == (
        f"https://x.example/identity/oauth/token?client_id=abc&client_secret={REDACTED}&a=1"
    )
    headers = {"Authorization": "Bearer t", "X-API-Key": "k", "Accept": "application/json"}
    assert redact_headers(headers) == {
        "Authorization": REDACTED,
        "X-API-Key": REDACTED,
        "Accept": "application/json",
    }


async def test_logs_and_errors_never_contain_credentials(
    serve: Callable[[ASGIApp], str], metrics: ConnectorMetrics
) -> None:
    """A Marketo-like run: token by GET with the secret in the query string, a token the vendor
    stops accepting, a 5xx retry, and a vendor error message that echoes the token back."""
    secret, issued = "cs-9f8e7d6c5b4a", list[str]()
    calls = Counter[str]()

    async def token(request: Request) -> Response:
        assert request.query_params["client_secret"] == secret
        issued.append(f"tok-{len(issued)}-abcdef")
        return JSONResponse({"access_token": issued[-1], "expires_in": 3600})

    async def leads(request: Request) -> Response:
        calls["leads"] += 1
        auth = request.headers["authorization"]
        if calls["leads"] == 1:
            return JSONResponse({"message": "token expired"}, status_code=401)
        if calls["leads"] == 2:
            return JSONResponse({}, status_code=502)
        if calls["leads"] == 3:
            return JSONResponse({"success": True})
        return JSONResponse({"message": f"bad request with {auth}"}, status_code=400)

    async def other(request: Request) -> Response:
        return JSONResponse({"message": f"key {request.query_params['api_key']} is wrong"}, 403)

    url = serve(
        Starlette(
            routes=[
                Route("/identity/oauth/token", token),
                Route("/rest/v1/leads.json", leads),
                Route("/other", other),
            ]
        )
    )
    auth = ClientCredentialsAuth(
        f"{url}/identity/oauth/token", "client-id-1", secret, style="query", clock=ManualClock()
    )
    api_key = "ak-0123456789abcdef"
    errors: list[str] = []
    with structlog.testing.capture_logs() as logs:
        async with make_http(url, metrics, auth=auth, backoff=Backoff(jitter=0)) as http:
            await http.request("GET", "/rest/v1/leads.json", operation="get_leads")
            with pytest.raises(PermanentError) as caught:
                await http.request("GET", "/rest/v1/leads.json", operation="get_leads")
            errors.append(str(caught.value))
        key_auth = APIKeyAuth(api_key, name="api_key", location="query")
        async with make_http(url, metrics, auth=key_auth, backoff=NO_RETRY) as http:
            with pytest.raises(PermanentError) as caught:
                await http.request("GET", "/other", operation="other")
            errors.append(str(caught.value))

    events = {entry["event"] for entry in logs}
    assert {
        "connector.request",
        "connector.response",
        "connector.reauthenticate",
        "connector.retry",
        "connector.failed",
    } <= events
    assert any(f"client_secret={REDACTED}" in str(entry.get("url")) for entry in logs)
    everything = json.dumps(logs, default=str) + json.dumps(errors)
    assert len(issued) == 2
    for credential in (secret, api_key, *issued):
        assert credential not in everything
    assert REDACTED in errors[0] and REDACTED in errors[1]
