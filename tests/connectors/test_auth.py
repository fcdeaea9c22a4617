from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from renkei.clock import ManualClock
from renkei.connectors import (
    APIKeyAuth,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    ConfigurationError,
    ConnectorError,
    ConnectorMetrics,
    ReauthenticateError,
    RefreshTokenAuth,
)

from .conftest import make_http

CLIENT_ID = "client-123"
CLIENT_SECRET = "s3cr3t-client-value"


class Vendor:
    """An OAuth2 token endpoint plus an API that accepts only tokens it issued."""

    def __init__(self, *, expires_in: int = 3600, rotate: bool = False) -> None:
        self.expires_in = expires_in
        self.rotate = rotate
        self.token_requests: list[dict[str, Any]] = []
        self.api_calls: list[str | None] = []
        self.valid: set[str] = set()
        self.reject_all = False
        self.refresh_token = "rt-0"
        self._numbers = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/oauth/token", self.token, methods=["GET", "POST"]),
                Route("/api/thing", self.thing),
                Route("/marketo/thing", self.marketo_thing),
                Route("/echo", self.echo),
            ]
        )

    def revoke_all(self) -> None:
        self.valid.clear()

    async def token(self, request: Request) -> JSONResponse:
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            params.update(parse_qsl((await request.body()).decode()))
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            params.update(client_id=user, client_secret=password)
        self.token_requests.append({"method": request.method, "basic": bool(auth), **params})
        await asyncio.sleep(0.05)  # long enough for concurrent callers to pile up
        if params.get("client_id") != CLIENT_ID or params.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        body: dict[str, Any] = {}
        if params.get("grant_type") == "refresh_token":
            if params.get("refresh_token") != self.refresh_token:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "bad token"}, status_code=400
                )
            if self.rotate:
                self.refresh_token = f"rt-{next(self._numbers)}"
                body["refresh_token"] = self.refresh_token
        elif params.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        token = f"at-{next(self._numbers)}"
        self.valid.add(token)
        body.update(access_token=token, token_type="bearer", expires_in=self.expires_in)
        return JSONResponse(body)

    def _token_ok(self, request: Request) -> bool:
        auth = request.headers.get("authorization")
        self.api_calls.append(auth)
        return not self.reject_all and auth is not None and auth[7:] in self.valid

    async def thing(self, request: Request) -> JSONResponse:
        if not self._token_ok(request):
            return JSONResponse({"message": "expired token"}, status_code=401)
        return JSONResponse({"ok": True})

    async def marketo_thing(self, request: Request) -> JSONResponse:
        # Marketo answers 200 and reports 601/602 inside the body.
        if not self._token_ok(request):
            error = {"code": "601", "message": "Access token invalid"}
            return JSONResponse({"success": False, "errors": [error]})
        return JSONResponse({"success": True, "result": []})

    async def echo(self, request: Request) -> JSONResponse:
        return JSONResponse({"headers": dict(request.headers), "query": dict(request.query_params)})


def marketo_classify(response: httpx.Response, now: datetime) -> ConnectorError | None:
    body = response.json()
    codes = {e.get("code") for e in body.get("errors", [])} if isinstance(body, dict) else set()
    if codes & {"601", "602"}:
        return ReauthenticateError("Marketo access token invalid or expired", code="601")
    return None


@pytest.fixture
def vendor(serve: Callable[[ASGIApp], str]) -> tuple[Vendor, str]:
    v = Vendor()
    return v, serve(v.app)


def client_credentials(url: str, clock: ManualClock | None = None, **kw: Any) -> Any:
    return ClientCredentialsAuth(
        f"{url}/oauth/token", CLIENT_ID, CLIENT_SECRET, clock=clock or ManualClock(), **kw
    )


async def test_api_key_in_header(vendor: tuple[Vendor, str], metrics: ConnectorMetrics) -> None:
    _, url = vendor
    auth = APIKeyAuth("key-abc", name="Authorization", prefix="Klaviyo-API-Key ")
    async with make_http(url, metrics, auth=auth) as http:
        echo = (await http.request("GET", "/echo", operation="echo")).json()
    assert echo["headers"]["authorization"] == "Klaviyo-API-Key key-abc"


async def test_api_key_in_query(vendor: tuple[Vendor, str], metrics: ConnectorMetrics) -> None:
    _, url = vendor
    auth = APIKeyAuth("key-abc", name="hapikey", location="query")
    async with make_http(url, metrics, auth=auth) as http:
        echo = (await http.request("GET", "/echo", operation="echo", params={"a": "1"})).json()
    assert echo["query"] == {"a": "1", "hapikey": "key-abc"}


async def test_bearer_and_basic(vendor: tuple[Vendor, str], metrics: ConnectorMetrics) -> None:
    _, url = vendor
    async with make_http(url, metrics, auth=BearerAuth("tok")) as http:
        echo = (await http.request("GET", "/echo", operation="echo")).json()
    assert echo["headers"]["authorization"] == "Bearer tok"
    async with make_http(url, metrics, auth=BasicAuth("anystring", "mc-key-us6")) as http:
        echo = (await http.request("GET", "/echo", operation="echo")).json()
    expected = base64.b64encode(b"anystring:mc-key-us6").decode()
    assert echo["headers"]["authorization"] == f"Basic {expected}"


@pytest.mark.parametrize(
    ("style", "method", "basic"),
    [("form", "POST", False), ("basic", "POST", True), ("query", "GET", False)],
)
async def test_client_credentials_styles_and_caching(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics, style: Any, method: str, basic: bool
) -> None:
    v, url = vendor
    async with make_http(url, metrics, auth=client_credentials(url, style=style)) as http:
        for _ in range(3):
            await http.request("GET", "/api/thing", operation="thing")
    assert len(v.token_requests) == 1
    assert v.token_requests[0]["method"] == method
    assert v.token_requests[0]["basic"] is basic
    assert v.token_requests[0]["grant_type"] == "client_credentials"
    assert v.api_calls == ["Bearer at-1"] * 3


async def test_token_refetched_shortly_before_expiry(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    clock = ManualClock()
    auth = client_credentials(url, clock, margin=60)
    async with make_http(url, metrics, auth=auth, clock=clock) as http:
        await http.request("GET", "/api/thing", operation="thing")
        clock.advance(3539)
        await http.request("GET", "/api/thing", operation="thing")
        assert len(v.token_requests) == 1
        clock.advance(1)  # now within the 60 s margin of the 3600 s lifetime
        await http.request("GET", "/api/thing", operation="thing")
    assert len(v.token_requests) == 2
    assert v.api_calls == ["Bearer at-1", "Bearer at-1", "Bearer at-2"]


async def test_rejected_token_reauthenticates_once(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    async with make_http(url, metrics, auth=client_credentials(url)) as http:
        await http.request("GET", "/api/thing", operation="thing")
        v.revoke_all()  # the vendor expired it early
        response = await http.request("GET", "/api/thing", operation="thing")
    assert response.json() == {"ok": True}
    assert len(v.token_requests) == 2
    assert v.api_calls == ["Bearer at-1", "Bearer at-1", "Bearer at-2"]


async def test_marketo_error_in_body_reauthenticates(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    auth = client_credentials(url, style="query")
    async with make_http(url, metrics, auth=auth, classify=marketo_classify) as http:
        await http.request("GET", "/marketo/thing", operation="thing")
        v.revoke_all()
        response = await http.request("GET", "/marketo/thing", operation="thing")
    assert response.json()["success"] is True
    assert len(v.token_requests) == 2


async def test_token_refused_again_after_reauth_is_a_configuration_error(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    v.reject_all = True
    async with make_http(url, metrics, auth=client_credentials(url)) as http:
        with pytest.raises(ConfigurationError, match="freshly issued"):
            await http.request("GET", "/api/thing", operation="thing")
    assert len(v.token_requests) == 2  # the first token and exactly one re-auth
    assert len(v.api_calls) == 2


async def test_static_key_refused_is_a_configuration_error_at_once(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    async with make_http(url, metrics, auth=BearerAuth("not-a-valid-token")) as http:
        with pytest.raises(ConfigurationError) as caught:
            await http.request("GET", "/api/thing", operation="thing")
    assert len(v.api_calls) == 1
    assert "not-a-valid-token" not in str(caught.value)


async def test_concurrent_callers_share_one_token_fetch(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    async with make_http(url, metrics, auth=client_credentials(url)) as http:
        await asyncio.gather(
            *(http.request("GET", "/api/thing", operation="thing") for _ in range(20))
        )
    assert len(v.token_requests) == 1
    assert set(v.api_calls) == {"Bearer at-1"}


async def test_concurrent_rejections_share_one_refetch(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    v, url = vendor
    async with make_http(url, metrics, auth=client_credentials(url)) as http:
        await http.request("GET", "/api/thing", operation="thing")
        v.revoke_all()
        await asyncio.gather(
            *(http.request("GET", "/api/thing", operation="thing") for _ in range(10))
        )
    assert len(v.token_requests) == 2


async def test_wrong_client_secret_is_a_configuration_error(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    _, url = vendor
    auth = ClientCredentialsAuth(f"{url}/oauth/token", CLIENT_ID, "wrong-secret-value")
    async with make_http(url, metrics, auth=auth) as http:
        with pytest.raises(ConfigurationError) as caught:
            await http.request("GET", "/api/thing", operation="thing")
    assert caught.value.code == "invalid_client"
    assert "wrong-secret-value" not in str(caught.value)


async def test_refresh_token_rotation_is_persisted_and_used(
    serve: Callable[[ASGIApp], str], metrics: ConnectorMetrics
) -> None:
    v = Vendor(expires_in=1800, rotate=True)
    url = serve(v.app)
    clock = ManualClock()
    persisted: list[str] = []

    async def on_rotate(token: str) -> None:
        persisted.append(token)

    auth = RefreshTokenAuth(
        f"{url}/oauth/token", CLIENT_ID, CLIENT_SECRET, "rt-0", on_rotate=on_rotate, clock=clock
    )
    async with make_http(url, metrics, auth=auth, clock=clock) as http:
        await http.request("GET", "/api/thing", operation="thing")
        clock.advance(1800)
        await http.request("GET", "/api/thing", operation="thing")
    grants = [(r["grant_type"], r["refresh_token"]) for r in v.token_requests]
    assert grants == [("refresh_token", "rt-0"), ("refresh_token", "rt-1")]
    assert persisted == ["rt-1", "rt-3"]
    assert v.api_calls == ["Bearer at-2", "Bearer at-4"]


async def test_refused_refresh_token_is_a_configuration_error(
    vendor: tuple[Vendor, str], metrics: ConnectorMetrics
) -> None:
    _, url = vendor
    auth = RefreshTokenAuth(f"{url}/oauth/token", CLIENT_ID, CLIENT_SECRET, "rt-revoked")
    async with make_http(url, metrics, auth=auth) as http:
        with pytest.raises(ConfigurationError) as caught:
            await http.request("GET", "/api/thing", operation="thing")
    assert caught.value.code == "invalid_grant"
    assert "rt-revoked" not in str(caught.value)
