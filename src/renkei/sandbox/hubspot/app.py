"""The HubSpot sandbox: an ASGI app plus everything a test inspects or steers.

Every call goes through one pipeline: routing (404/405), injected faults, the private-app
token (401), scopes (403), the rate limits of the route's policy (429 with
``Retry-After``, recorded in ``violations``), then the endpoint. Responses outside search
carry the ``X-HubSpot-RateLimit-*`` headers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from renkei.clock import Clock, SystemClock
from renkei.sandbox._common import Call, Counters, Fault, Faults, Gate, Violation, read_call
from renkei.sandbox._oauth import OAuthServer
from renkei.sandbox.hubspot.auth import OAUTH_TOKEN_PREFIX, authenticate, authorize
from renkei.sandbox.hubspot.config import HubSpotSandboxConfig
from renkei.sandbox.hubspot.errors import HubSpotError, correlation_id
from renkei.sandbox.hubspot.limits import HubSpotLimits, Policy, RateLimited
from renkei.sandbox.hubspot.routes import resolve
from renkei.sandbox.hubspot.state import Contact, EventCompletion, HubSpotState

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class HubSpotSandbox:
    def __init__(self, config: HubSpotSandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.state = HubSpotState(config, clock)
        self.limits = HubSpotLimits(config)
        self.faults = Faults()
        self.gate = Gate()
        self.in_flight = 0
        # The OAuth app (developers.hubspot.com/docs/api/oauth-quickstart-guide): authorize
        # at /oauth/authorize (app.hubspot.com in production), tokens at /oauth/v1/token,
        # a refresh token deleted at DELETE /oauth/v1/refresh-tokens/{token}.
        self.oauth = OAuthServer(
            config.oauth_client_id,
            config.oauth_client_secret,
            clock,
            token_lifetime=config.oauth_token_lifetime_seconds,
            access_prefix=OAUTH_TOKEN_PREFIX,
        )
        self.app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=_METHODS)])
        if config.seed_contacts:
            self.seed_contacts(config.seed_contacts)

    # --- inspection --------------------------------------------------------------------

    @property
    def contacts(self) -> dict[int, Contact]:
        return self.state.contacts

    @property
    def events(self) -> list[EventCompletion]:
        return self.state.events

    @property
    def counters(self) -> Counters:
        return self.state.counters

    @property
    def violations(self) -> list[Violation]:
        return self.state.violations

    @property
    def daily_used(self) -> int:
        return self.limits.daily.used(self.clock.now())

    def contact_by_email(self, email: str) -> Contact | None:
        return self.state.find("email", email)

    # --- steering ----------------------------------------------------------------------

    def seed_contacts(self, count: int, *, spacing_seconds: float = 0.0) -> list[Contact]:
        return self.state.seed_contacts(count, spacing_seconds=spacing_seconds)

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        body: dict[str, Any] | None = None,
        *,
        path: str = "/",
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """The next ``count`` matching calls answer ``status`` with ``body`` (default: the
        body HubSpot sends for that status; a 429 is a ten-secondly rate limit)."""
        default_headers = {"Retry-After": "1"} if status == 429 else {}
        fault_body = body if body is not None else _default_fault_body(status)
        fault = Fault(count, status, fault_body, headers or default_headers, path, method)
        return self.faults.add(fault)

    @contextlib.contextmanager
    def hold(self) -> Iterator[Gate]:
        """Hold admitted calls in flight until the block ends."""
        self.gate.close()
        try:
            yield self.gate
        finally:
            self.gate.open()

    # --- pipeline ----------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
        call = await read_call(request)
        oauth = self._oauth(call)
        if oauth is not None:
            return oauth
        try:
            call, operation = resolve(call)
        except HubSpotError as exc:
            self.counters.calls[f"{call.method} {call.path}"] += 1
            return _error_response(exc)
        self.counters.calls[call.endpoint] += 1
        fault = self.faults.take(call.method, call.path)
        if fault is not None:
            return _fault_response(fault)
        try:
            authenticate(self.config, call, self.oauth)
            authorize(self.config, operation.scope)
        except HubSpotError as exc:
            return _error_response(exc)
        limited = self.limits.refusal(operation.policy, self.clock)
        if limited is not None:
            self.state.violate(limited.kind, call.endpoint, limited.message)
            return _rate_limited_response(limited, self._rate_headers(operation.policy))
        self.limits.count(operation.policy, self.clock)
        headers = self._rate_headers(operation.policy)
        self.in_flight += 1
        try:
            await self.gate.pass_through()
            status, body = operation.handler(self.state, call)
        except HubSpotError as exc:
            return _error_response(exc, headers)
        finally:
            self.in_flight -= 1
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    def _oauth(self, call: Call) -> Response | None:
        if call.path == "/oauth/authorize" and call.method == "GET":
            return self.oauth.authorize(dict(call.query))
        if call.path == "/oauth/v1/token" and call.method == "POST":
            form = dict(parse_qsl(call.body.decode("utf-8", "replace")))
            return self.oauth.token(form, call.headers.get("authorization"))
        prefix = "/oauth/v1/refresh-tokens/"
        if call.path.startswith(prefix) and call.method == "DELETE":
            revoked = self.oauth.revoke(call.path.removeprefix(prefix))
            return Response(status_code=204 if revoked.status_code == 200 else 404)
        return None

    def _rate_headers(self, policy: Policy) -> dict[str, str]:
        # Search responses carry no rate-limit headers (usage guidelines).
        return self.limits.headers(self.clock) if policy is Policy.STANDARD else {}


def _error_response(error: HubSpotError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def _rate_limited_response(limited: RateLimited, headers: dict[str, str]) -> Response:
    body = {
        "status": "error",
        "message": limited.message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": limited.policy_name,
        "requestId": correlation_id(),
        "category": "RATE_LIMITS",
    }
    retry = {"Retry-After": str(limited.retry_after_seconds)}
    return JSONResponse(body, status_code=429, headers={**headers, **retry})


def _default_fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
            "category": "RATE_LIMITS",
        }
    category = "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"
    return {"status": "error", "message": f"Injected fault {status}", "category": category}


def _fault_response(fault: Fault) -> Response:
    if fault.body is None:
        return Response(status_code=fault.status, headers=fault.headers)
    body = {**fault.body}
    body.setdefault("correlationId", correlation_id())
    return JSONResponse(body, status_code=fault.status, headers=fault.headers)


def create_hubspot_app(
    config: HubSpotSandboxConfig | None = None, clock: Clock | None = None
) -> HubSpotSandbox:
    return HubSpotSandbox(config or HubSpotSandboxConfig(), clock or SystemClock())
