"""The generic HTTP connector against a small in-house "points system" on loopback: the
kind of tool the catalog lacks, reached by configuration alone."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from renkei.clock import Clock
from renkei.connectors import (
    CallContext,
    ConfigurationError,
    PermanentError,
    RecordError,
    RetryableError,
)
from renkei.connectors.http_generic import HttpConnector
from renkei.expr import compile_template
from renkei.sandbox import serve_in_thread
from renkei.sandbox._common import SlidingWindow

from .conftest import RecordingClock
from .vendor_support import open_ctx

connector = HttpConnector()
TOKEN = "points-secret-token"
ITEMS = [{"id": n, "name": f"item {n}"} for n in range(250)]


@dataclass
class PointsSystem:
    """Credits points (deduplicated by Idempotency-Key) and lists items four ways."""

    clock: Clock
    window: SlidingWindow | None = None
    credits: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    violations: int = 0
    tokens_issued: int = 0
    base: str = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth/token", self.token, methods=["POST"]),
                Route("/v1/users/{user}/credits", self.credit, methods=["POST"]),
                Route("/v1/items", self.cursor_items),
                Route("/v1/items-offset", self.offset_items),
                Route("/v1/items-link", self.link_items),
                Route("/v1/items-next", self.next_items),
            ]
        )

    async def _gate(self, request: Request) -> Response | None:
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        if self.window is not None:
            now = self.clock.time()
            if self.window.is_full(now):
                self.violations += 1
                return JSONResponse({"error": "slow down"}, 429, headers={"Retry-After": "1"})
            self.window.add(now)
        if self.failures:
            status, headers = self.failures.pop(0)
            return JSONResponse({"error": "injected"}, status, headers=headers)
        if request.url.path != "/oauth/token":
            auth = request.headers.get("authorization", "")
            if auth not in (f"Bearer {TOKEN}", "Bearer oauth-token-1"):
                return JSONResponse({"error": "unauthorized"}, 401)
        return None

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        if (form.get("client_id"), form.get("client_secret")) != ("renkei", "s3cret"):
            return JSONResponse({"error": "invalid_client"}, 401)
        self.tokens_issued += 1
        return JSONResponse({"access_token": "oauth-token-1", "expires_in": 3600})

    async def credit(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        key = request.headers.get("idempotency-key")
        body = json.loads(await request.body())
        if not key:
            return JSONResponse({"error": "Idempotency-Key is required"}, 400)
        if not isinstance(body.get("points"), int) or body["points"] <= 0:
            return JSONResponse({"error": "points must be a positive integer"}, 422)
        if key in self.credits:
            return JSONResponse(self.credits[key], 200)
        self.credits[key] = {
            "user": request.path_params["user"],
            **body,
            "id": f"cr_{len(self.credits) + 1}",
        }
        return JSONResponse(self.credits[key], 201)

    async def cursor_items(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        start = int(request.query_params.get("cursor") or 0)
        limit = int(request.query_params.get("limit", "100"))
        page = ITEMS[start : start + limit]
        more = start + limit < len(ITEMS)
        return JSONResponse(
            {"data": page, "meta": {"next_cursor": str(start + limit) if more else None}}
        )

    async def offset_items(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        offset = int(request.query_params["offset"])
        limit = int(request.query_params["limit"])
        return JSONResponse({"items": ITEMS[offset : offset + limit], "total": len(ITEMS)})

    async def link_items(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        page = int(request.query_params.get("page", "1"))
        headers = {}
        if page * 100 < len(ITEMS):
            headers["Link"] = f'<{self.base}/v1/items-link?page={page + 1}>; rel="next"'
        return JSONResponse(ITEMS[(page - 1) * 100 : page * 100], headers=headers)

    async def next_items(self, request: Request) -> Response:
        if refused := await self._gate(request):
            return refused
        page = int(request.query_params.get("page", "1"))
        links = {"self": str(request.url)}
        if page * 100 < len(ITEMS):
            links["next"] = f"{self.base}/v1/items-next?page={page + 1}"
        return JSONResponse({"data": ITEMS[(page - 1) * 100 : page * 100], "links": links})


@dataclass
class Target:
    system: PointsSystem
    url: str
    clock: RecordingClock

    def open(self, credentials: dict[str, str] | None = None, **config: Any) -> CallContext:
        settings = {"auth": {"type": "bearer"}, **config}
        settings["url"] = settings["url"].replace("{base}", self.url)
        creds = {"token": TOKEN} if credentials is None else credentials
        return open_ctx(connector, self.clock, credentials=creds, config=settings)


Start = Callable[..., Target]


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def target(clock: RecordingClock) -> Iterator[Start]:
    with contextlib.ExitStack() as stack:

        def start(**kwargs: Any) -> Target:
            system = PointsSystem(clock, **kwargs)
            url = stack.enter_context(serve_in_thread(system.app()))
            system.base = url
            return Target(system, url, clock)

        yield start


CREDIT = {
    "url": "{base}/v1/users/{{ input.user_id | url_encode }}/credits",
    "method": "POST",
    "headers": {"Idempotency-Key": "{{ input.event_id }}"},
    "body": '{"points": {{ input.points | json }}, "reason": "{{ input.reason }}"}',
}


def credit(n: int, points: int = 10) -> dict[str, Any]:
    return {"user_id": f"user-{n}", "event_id": f"evt_{n}", "points": points, "reason": "review"}


# --- templates and auth --------------------------------------------------------------------


async def test_method_url_headers_and_body_are_liquid_templates(target: Start) -> None:
    t = target()
    async with t.open(**CREDIT) as ctx:
        result = await connector.call("request", credit(1, points=25), ctx)
    assert result.ok and result.records[0].status == "201"
    assert result.data["body"]["id"] == "cr_1"
    assert t.system.credits["evt_1"] == {
        "user": "user-1",
        "points": 25,
        "reason": "review",
        "id": "cr_1",
    }
    method, path, headers = t.system.requests[0]
    assert (method, path) == ("POST", "/v1/users/user-1/credits")
    assert headers["idempotency-key"] == "evt_1"


async def test_a_refused_credential_is_a_clear_permanent_configuration_error(target: Start) -> None:
    t = target()
    async with t.open(credentials={"token": "wrong"}, **CREDIT) as ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("request", credit(1), ctx)
    assert raised.value.status_code == 401 and "wrong" not in str(raised.value)
    assert len(t.system.requests) == 1


async def test_oauth2_client_credentials_and_api_key_strategies(target: Start) -> None:
    t = target()
    oauth = {"type": "oauth2_client_credentials", "token_url": f"{t.url}/oauth/token"}
    creds = {"client_id": "renkei", "client_secret": "s3cret"}
    async with t.open(credentials=creds, **{**CREDIT, "auth": oauth}) as ctx:
        for n in range(3):
            assert (await connector.call("request", credit(n), ctx)).ok
    assert t.system.tokens_issued == 1
    header_key = {"type": "api_key", "name": "Authorization", "prefix": "Bearer "}
    async with t.open(credentials={"api_key": TOKEN}, **{**CREDIT, "auth": header_key}) as ctx:
        assert (await connector.call("request", credit(9), ctx)).ok
    with pytest.raises(ConfigurationError, match="needs the credential"):
        t.open(credentials={}, **CREDIT)


async def test_template_mistakes_fail_when_the_connection_is_opened(target: Start) -> None:
    t = target()
    with pytest.raises(ConfigurationError, match="template"):
        t.open(**{**CREDIT, "body": '{"points": {{ input.points | nosuchfilter }}}'})
    with pytest.raises(ConfigurationError, match="pagination"):
        t.open(**{**CREDIT, "pagination": {"type": "scroll"}})


# --- retries -------------------------------------------------------------------------------


async def test_retryable_statuses_are_configurable(target: Start, clock: RecordingClock) -> None:
    t = target()
    t.system.failures = [(503, {}), (429, {"Retry-After": "5"})]
    async with t.open(**CREDIT, idempotent=True) as ctx:
        assert (await connector.call("request", credit(1), ctx)).ok
    assert clock.sleeps == [0.5, 5.0]
    assert len(t.system.credits) == 1

    t.system.failures = [(503, {})]
    async with t.open(**CREDIT, retry_on=[429], idempotent=True) as ctx:
        with pytest.raises(PermanentError) as raised:
            await connector.call("request", credit(2), ctx)
    assert raised.value.status_code == 503


async def test_a_post_is_not_repeated_in_process_unless_declared_idempotent(
    target: Start,
) -> None:
    t = target()
    t.system.failures = [(502, {})]
    async with t.open(**CREDIT) as ctx:
        with pytest.raises(RetryableError):  # the durable queue retries it later
            await connector.call("request", credit(1), ctx)
    assert len(t.system.requests) == 1


async def test_request_each_reports_per_record_outcomes(target: Start) -> None:
    t = target()
    records = [credit(1), credit(2, points=-5), credit(3), credit(1)]
    async with t.open(**CREDIT) as ctx:
        result = await connector.call("request_each", records, ctx)
    assert [r.ok for r in result.records] == [True, False, True, True]
    failed = result.records[1]
    assert isinstance(failed, RecordError) and failed.code == "422"
    assert [r.status for r in result.records if r.ok] == ["201", "201", "200"]  # a replay
    assert len(t.system.credits) == 2


async def test_the_configured_rate_limit_is_kept(target: Start, clock: RecordingClock) -> None:
    t = target(window=SlidingWindow(2, 1.0))
    async with t.open(**CREDIT, rate_limit={"calls": 2, "per_seconds": 1}) as ctx:
        result = await connector.call("request_each", [credit(n) for n in range(9)], ctx)
    assert result.ok and t.system.violations == 0
    assert len(t.system.credits) == 9


# --- reading -------------------------------------------------------------------------------

PAGINATIONS = {
    "cursor": (
        "{base}/v1/items?limit=100",
        {"type": "cursor", "cursor_path": "meta.next_cursor", "param": "cursor"},
        "data",
    ),
    "offset": (
        "{base}/v1/items-offset",
        {"type": "offset", "limit": 100, "limit_param": "limit", "total_path": "total"},
        "items",
    ),
    "link_header": ("{base}/v1/items-link", {"type": "link_header"}, ""),
    "next_link": ("{base}/v1/items-next", {"type": "next_link", "path": "links.next"}, "data"),
}


@pytest.mark.parametrize("kind", sorted(PAGINATIONS))
async def test_paging_reads_every_record_exactly_once(target: Start, kind: str) -> None:
    t = target()
    url, pagination, records_path = PAGINATIONS[kind]
    async with t.open(
        url=url, method="GET", pagination=pagination, records_path=records_path
    ) as ctx:
        result = await connector.call("read", {}, ctx)
    ids = [item["id"] for item in result.data["records"]]
    assert ids == list(range(250))
    assert result.data["pages"] == 3 == len(t.system.requests)


# --- flows ---------------------------------------------------------------------------------


async def test_playbook_award_points_for_behaviour(target: Start) -> None:
    """Seed playbook 6: a receipt validated in the app credits loyalty points, once."""
    t = target()
    step = compile_template(
        '{"user_id": "{{ event.user_id }}", "event_id": "{{ event.id }}",'
        ' "points": {{ event.data.amount | divided_by: 10 | floor | json }},'
        ' "reason": "receipt {{ event.data.receipt_id }}"}'
    )
    receipt = {
        "id": "evt_r1",
        "user_id": "u-42",
        "type": "receipt.receipt_validated",
        "data": {"receipt_id": "R-9", "amount": 154},
    }
    async with t.open(**CREDIT) as ctx:
        first = await connector.call("request", step.render({"event": receipt}), ctx)
        again = await connector.call("request", step.render({"event": receipt}), ctx)
    assert first.records[0].status == "201" and again.records[0].status == "200"
    assert t.system.credits == {
        "evt_r1": {"user": "u-42", "points": 15, "reason": "receipt R-9", "id": "cr_1"}
    }
