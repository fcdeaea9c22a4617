"""The request pipeline the Braze, Mailchimp, Klaviyo and Slack sandboxes share.

Every request is recorded (``requests``, so tests can check what a client sent against a
vendor's spec), counted, matched against injected faults, tracked in flight (``in_flight``,
``max_in_flight``) and handed to the vendor's :meth:`VendorSandbox.handle`. Handlers call
:meth:`VendorSandbox.admitted` once the request passed auth and limits: that is where
:meth:`hold` keeps it in flight.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from renkei.clock import Clock
from renkei.sandbox._common import (
    Call,
    Counters,
    Fault,
    Faults,
    Gate,
    Violation,
    ViolationKind,
    read_call,
)

__all__ = ["BadBody", "FixedWindow", "VendorSandbox", "json_body", "up"]

ConfigT = TypeVar("ConfigT")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class FixedWindow:
    """At most ``limit`` events per window; windows are aligned to multiples of ``seconds``
    since the epoch (a "per 3 seconds" or "per minute" counter that resets at once)."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._window = -1
        self._used = 0

    def _roll(self, now: float) -> None:
        window = math.floor(now / self.seconds)
        if window != self._window:
            self._window, self._used = window, 0

    def used(self, now: float) -> int:
        self._roll(now)
        return self._used

    def remaining(self, now: float) -> int:
        return max(0, self.limit - self.used(now))

    def is_full(self, now: float) -> bool:
        return self.used(now) >= self.limit

    def add(self, now: float) -> None:
        self._roll(now)
        self._used += 1

    def resets_at(self, now: float) -> float:
        return (math.floor(now / self.seconds) + 1) * self.seconds

    def retry_after(self, now: float) -> float:
        return max(0.0, self.resets_at(now) - now)


def up(seconds: float) -> int:
    """Whole seconds for a ``Retry-After`` header, never 0."""
    return max(1, math.ceil(seconds))


class BadBody(Exception):
    """The request body is not what the endpoint parses (not JSON, not an object)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def json_body(call: Call) -> Any:
    try:
        return json.loads(call.body or b"null")
    except ValueError:
        raise BadBody("the body is not valid JSON") from None


class VendorSandbox(ABC, Generic[ConfigT]):
    def __init__(self, config: ConfigT, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.faults = Faults()
        self.gate = Gate()
        self.counters = Counters()
        self.violations: list[Violation] = []
        self.requests: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=_METHODS)])

    # --- steering ----------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        body: Any = None,
        *,
        path: str = "/",
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """The next ``count`` matching calls answer ``status`` (with the vendor's own error
        body for it unless ``body`` is given) instead of being served."""
        fault_body = body if body is not None else self.fault_body(status)
        fault_headers = headers if headers is not None else self.fault_headers(status)
        return self.faults.add(Fault(count, status, fault_body, fault_headers, path, method))

    @contextlib.contextmanager
    def hold(self) -> Iterator[Gate]:
        """Keep admitted requests in flight until the block ends."""
        self.gate.close()
        try:
            yield self.gate
        finally:
            self.gate.open()

    def violate(self, kind: ViolationKind, endpoint: str, detail: str) -> None:
        with self._lock:
            self.violations.append(Violation(kind, endpoint, detail, self.clock.now()))

    async def admitted(self) -> None:
        """Called by handlers once a request passed auth and limits."""
        await self.gate.pass_through()

    # --- what each vendor provides -----------------------------------------------------

    @abstractmethod
    async def handle(self, call: Call) -> Response:
        """Answer one request exactly as the vendor would."""

    @abstractmethod
    def connection_help(self, base_url: str) -> str:
        """How a connection reaches this sandbox (sandbox credentials, not a vendor's)."""

    def fault_body(self, status: int) -> Any:
        return {"message": f"injected fault {status}"}

    def fault_headers(self, status: int) -> dict[str, str]:
        return {"Retry-After": "1"} if status == 429 else {}

    # --- pipeline ----------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
        call = await read_call(request)
        with self._lock:
            self.requests.append(call)
            self.counters.calls[f"{call.method} {call.path}"] += 1
        fault = self.faults.take(call.method, call.path)
        if fault is not None:
            return _fault_response(fault)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self.handle(call)
        finally:
            with self._lock:
                self.in_flight -= 1


def _fault_response(fault: Fault) -> Response:
    if fault.body is None:
        return Response(status_code=fault.status, headers=fault.headers)
    if isinstance(fault.body, str):
        return PlainTextResponse(fault.body, status_code=fault.status, headers=fault.headers)
    return JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)
