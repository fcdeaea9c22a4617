"""The Marketo sandbox: an ASGI app plus everything a test inspects or steers.

Every REST call goes through one pipeline, in Marketo's order: HTTP-level size checks
(413/414), routing (610/605), injected faults, the access token (600/601/602), the call
limits (615/606/607), then the endpoint. Only successful calls are counted against the
limits; each refusal for a limit is also recorded in ``violations``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from renkei.clock import Clock, SystemClock
from renkei.sandbox._common import (
    Call,
    Counters,
    Fault,
    Faults,
    Gate,
    Violation,
    content_type,
    read_call,
)
from renkei.sandbox.marketo.auth import IdentityError, TokenStore
from renkei.sandbox.marketo.config import MarketoSandboxConfig
from renkei.sandbox.marketo.errors import MarketoError, message
from renkei.sandbox.marketo.limits import MarketoLimits
from renkei.sandbox.marketo.routes import resolve
from renkei.sandbox.marketo.state import Activity, Lead, MarketoState

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
IDENTITY_ENDPOINT = "GET /identity/oauth/token"


class MarketoSandbox:
    def __init__(self, config: MarketoSandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.state = MarketoState(config, clock)
        self.tokens = TokenStore(config, clock, self.state.counters)
        self.limits = MarketoLimits(config)
        self.faults = Faults()
        self.gate = Gate()
        self.app = Starlette(
            routes=[
                Route("/identity/oauth/token", self._identity, methods=["GET", "POST"]),
                Route("/{path:path}", self._rest, methods=_METHODS),
            ]
        )
        if config.seed_leads:
            self.seed_leads(config.seed_leads)
        if config.seed_activities:
            self.seed_activities(config.seed_activities)

    # --- inspection --------------------------------------------------------------------

    @property
    def leads(self) -> dict[int, Lead]:
        return self.state.leads

    @property
    def activities(self) -> list[Activity]:
        return self.state.activities

    @property
    def custom_activities(self) -> list[Activity]:
        custom = {t.id for t in self.state.activity_types.values() if t.is_custom}
        return [a for a in self.state.activities if a.activity_type_id in custom]

    @property
    def counters(self) -> Counters:
        return self.state.counters

    @property
    def violations(self) -> list[Violation]:
        return self.state.violations

    @property
    def in_flight(self) -> int:
        return self.limits.in_flight

    @property
    def quota_used(self) -> int:
        return self.limits.quota.used(self.clock.now())

    def lead_by_email(self, email: str) -> Lead | None:
        field = self.state.schema.get("email")
        assert field is not None
        found = self.state.find_leads(field, email)
        return found[0] if found else None

    # --- steering ----------------------------------------------------------------------

    def seed_leads(self, count: int, *, log: bool = False) -> list[Lead]:
        return self.state.seed_leads(count, log=log)

    def seed_activities(
        self,
        count: int,
        *,
        activity_type_id: int = 1,
        start: datetime | None = None,
        spacing_seconds: float = 1.0,
    ) -> list[Activity]:
        return self.state.seed_activities(
            count, activity_type_id=activity_type_id, start=start, spacing_seconds=spacing_seconds
        )

    def fail_next(
        self,
        count: int = 1,
        code: str = "611",
        text: str | None = None,
        *,
        path: str = "/rest/",
        method: str | None = None,
    ) -> Fault:
        """The next ``count`` matching calls answer the response-level error ``code``."""
        body = {"success": False, "errors": [{"code": code, "message": text or message(code)}]}
        return self.faults.add(Fault(count, 200, body, path=path, method=method))

    def fail_next_http(
        self,
        count: int = 1,
        status: int = 502,
        *,
        path: str = "/rest/",
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """The next ``count`` matching calls answer a bare HTTP ``status``."""
        return self.faults.add(Fault(count, status, None, headers or {}, path, method))

    @contextlib.contextmanager
    def hold(self) -> Iterator[Gate]:
        """Hold admitted calls in flight until the block ends (concurrency tests)."""
        self.gate.close()
        try:
            yield self.gate
        finally:
            self.gate.open()

    def expire_tokens(self) -> None:
        self.tokens.expire_all()

    # --- identity ----------------------------------------------------------------------

    async def _identity(self, request: Request) -> Response:
        call = await read_call(request)
        self.counters.calls[IDENTITY_ENDPOINT] += 1
        fault = self.faults.take(call.method, call.path)
        if fault is not None:
            return self._fault_response(fault)
        params = dict(call.query)
        if call.method == "POST" and content_type(call) == "application/x-www-form-urlencoded":
            params.update(QueryParams(call.body.decode()))
        try:
            return JSONResponse(self.tokens.grant(params))
        except IdentityError as exc:
            return JSONResponse(exc.body, status_code=exc.status)

    # --- REST pipeline -----------------------------------------------------------------

    async def _rest(self, request: Request) -> Response:
        call = await read_call(request)
        if len(call.body) > self.config.max_body_bytes:
            return PlainTextResponse("Request Entity Too Large", status_code=413)
        if call.uri_length > self.config.max_uri_bytes:
            return PlainTextResponse("Request-URI Too Long", status_code=414)
        call = _method_override(call)
        try:
            call, handler = resolve(call)
        except MarketoError as exc:
            self.counters.calls[f"{call.method} {call.path}"] += 1
            return self._failure(exc)
        self.counters.calls[call.endpoint] += 1
        fault = self.faults.take(call.method, call.path)
        if fault is not None:
            return self._fault_response(fault)
        token_error = self.tokens.check(call)
        if token_error is not None:
            return self._failure(MarketoError(token_error))
        refusal = self.limits.refusal(self.clock)
        if refusal is not None:
            kind, error = refusal
            self.state.violate(kind, call.endpoint, error.text)
            return self._failure(error)
        self.limits.in_flight += 1
        try:
            await self.gate.pass_through()
            payload = handler(self.state, call)
        except MarketoError as exc:
            return self._failure(exc)
        finally:
            self.limits.in_flight -= 1
        self.limits.count_success(self.clock)
        return JSONResponse(
            {
                "requestId": self.state.request_id(),
                **payload,
                "success": True,
                "errors": [],
                "warnings": [],
            }
        )

    def _failure(self, error: MarketoError) -> Response:
        return JSONResponse(
            {
                "requestId": self.state.request_id(),
                "success": False,
                "errors": [{"code": error.code, "message": error.text}],
                "warnings": [],
            }
        )

    def _fault_response(self, fault: Fault) -> Response:
        if fault.body is None:
            return Response(status_code=fault.status, headers=fault.headers)
        body: dict[str, Any] = {"requestId": self.state.request_id(), **fault.body}
        return JSONResponse(body, status_code=fault.status, headers=fault.headers)


def _method_override(call: Call) -> Call:
    """``POST ...?_method=GET`` with the query string in a form body is a GET (the
    documented workaround for 414)."""
    if call.method != "POST" or call.query.get("_method", "").upper() != "GET":
        return call
    rest = [(k, v) for k, v in call.query.multi_items() if k != "_method"]
    merged = rest + QueryParams(call.body.decode(errors="replace")).multi_items()
    return Call("GET", call.path, QueryParams(merged), call.headers, b"")


def create_marketo_app(
    config: MarketoSandboxConfig | None = None, clock: Clock | None = None
) -> MarketoSandbox:
    return MarketoSandbox(config or MarketoSandboxConfig(), clock or SystemClock())
