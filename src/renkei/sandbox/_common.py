"""Machinery every vendor sandbox shares: limits on a movable clock, violations, faults,
counters, a gate to hold requests in flight, and serving an app on loopback for tests.

Nothing here knows a vendor's wire format; each sandbox turns these into its own errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import ASGIApp

from renkei.sandbox.tls import TlsFiles

# --- violations ------------------------------------------------------------------------


class ViolationKind(StrEnum):
    RATE_LIMIT = "rate_limit"  # a rolling window (Marketo 606, HubSpot TEN_SECONDLY_ROLLING)
    SECONDLY_LIMIT = "secondly_limit"  # HubSpot's per-second search limit
    CONCURRENCY = "concurrency"  # Marketo 615
    DAILY_QUOTA = "daily_quota"  # Marketo 607, HubSpot DAILY
    BATCH_SIZE = "batch_size"  # too many records in one write
    PAGE_SIZE = "page_size"  # batchSize / limit above the documented maximum
    LIST_SIZE = "list_size"  # too many filter values, ids, type ids or filters
    RESULT_CAP = "result_cap"  # Marketo's 1,000 filter matches, HubSpot's 10,000 search hits


@dataclass(frozen=True)
class Violation:
    """One time a client went past a documented limit; tests assert there are none."""

    kind: ViolationKind
    endpoint: str
    detail: str
    at: datetime


# --- counters --------------------------------------------------------------------------


@dataclass
class Counters:
    """What clients did: calls per endpoint (``"GET /rest/v1/leads.json"``), pages served
    per paging token or cursor, and access tokens issued."""

    calls: Counter[str] = field(default_factory=Counter)
    pages_served: Counter[str] = field(default_factory=Counter)
    tokens_issued: int = 0


# --- limits ----------------------------------------------------------------------------


class SlidingWindow:
    """At most ``limit`` events in any ``seconds``-long window ending now."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._events: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._events and self._events[0] <= now - self.seconds:
            self._events.popleft()

    def used(self, now: float) -> int:
        self._prune(now)
        return len(self._events)

    def remaining(self, now: float) -> int:
        return max(0, self.limit - self.used(now))

    def is_full(self, now: float) -> bool:
        return self.used(now) >= self.limit

    def add(self, now: float) -> None:
        self._events.append(now)

    def retry_after(self, now: float) -> float:
        """Seconds until one more event fits."""
        if not self.is_full(now):
            return 0.0
        return max(0.0, self._events[0] + self.seconds - now)


class DailyQuota:
    """A count that starts again at midnight in ``timezone``."""

    def __init__(self, limit: int, timezone: str) -> None:
        self.limit = limit
        self.zone = ZoneInfo(timezone)
        self._day: date | None = None
        self._used = 0

    def _roll(self, now: datetime) -> None:
        today = now.astimezone(self.zone).date()
        if today != self._day:
            self._day = today
            self._used = 0

    def used(self, now: datetime) -> int:
        self._roll(now)
        return self._used

    def remaining(self, now: datetime) -> int:
        return max(0, self.limit - self.used(now))

    def is_exhausted(self, now: datetime) -> bool:
        return self.used(now) >= self.limit

    def add(self, now: datetime) -> None:
        self._roll(now)
        self._used += 1

    def resets_at(self, now: datetime) -> datetime:
        local = now.astimezone(self.zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
        return midnight.replace(tzinfo=self.zone).astimezone(UTC)

    def seconds_until_reset(self, now: datetime) -> float:
        return (self.resets_at(now) - now).total_seconds()


# --- faults ----------------------------------------------------------------------------


@dataclass
class Fault:
    """The next ``remaining`` matching calls are answered with ``status``/``body`` instead
    of being served. ``path`` is a prefix; ``method`` None matches any method."""

    remaining: int
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/"
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method is None or self.method.upper() == method
        return self.remaining > 0 and method_ok and path.startswith(self.path)


class Faults:
    """Queued faults, consumed first-in first-out by the calls they match."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._queue.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return fault
        return None

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(fault.remaining for fault in self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


# --- holding requests in flight --------------------------------------------------------


class Gate:
    """Lets a test hold admitted requests inside the server (to fill concurrency slots)
    and release them, across the test thread and the server's event loop."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._closed = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def close(self) -> None:
        with self._cond:
            self._closed = True

    def open(self) -> None:
        with self._cond:
            self._closed = False
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiters)

    def wait_for_waiters(self, count: int, timeout: float = 5.0) -> bool:
        """Block the calling (test) thread until ``count`` requests are held."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._waiters) >= count, timeout)

    async def pass_through(self) -> None:
        with self._cond:
            if not self._closed:
                return
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
            self._cond.notify_all()
        await future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# --- requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request as the sandboxes see it: routing key, query and raw body."""

    method: str
    path: str
    query: QueryParams
    headers: dict[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""

    @property
    def uri_length(self) -> int:
        return len(self.path) + (len(str(self.query)) + 1 if self.query else 0)


async def read_call(request: Request) -> Call:
    return Call(
        method=request.method.upper(),
        path=request.url.path,
        query=request.query_params,
        headers={key.lower(): value for key, value in request.headers.items()},
        body=await request.body(),
    )


def bearer_token(call: Call) -> str | None:
    header = call.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def content_type(call: Call) -> str:
    return call.headers.get("content-type", "").split(";")[0].strip().lower()


# --- time formats ----------------------------------------------------------------------


def iso_seconds(moment: datetime) -> str:
    """``2026-01-01T00:00:00Z`` (Marketo's format)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    """``2026-01-01T00:00:00.000Z`` (HubSpot's format)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 date-time with ``Z``, ``+hh:mm`` or ``+hhmm``; a bare date is midnight
    UTC and a time without an offset is UTC. None when it is not a date-time."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    if len(candidate) > 5 and candidate[-5] in "+-" and candidate[-4:].isdigit():
        candidate = candidate[:-2] + ":" + candidate[-2:]
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- serving ---------------------------------------------------------------------------


class QuickStopServer(uvicorn.Server):
    """uvicorn's server, stopping as soon as it is told to (``should_exit``): uvicorn's main
    loop looks for it every 100 ms and its shutdown sleeps 100 ms more, about 0.2 s for each
    sandbox a test starts and stops. Here both wait 5 ms at a time; the shutdown still lets
    open connections finish their responses, then runs the lifespan's shutdown."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.005)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for _ in range(6000):  # 30 s at most, as a stuck response must not hang a test
            if not (self.server_state.connections or self.server_state.tasks):
                break
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
    *,
    tls: TlsFiles | None = None,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of ``host`` in a background thread and
    yield its base URL (``http://127.0.0.1:PORT``, ``https://`` with ``tls``); the server
    stops on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,
        ssl_certfile=None if tls is None else tls.certificate,
        ssl_keyfile=None if tls is None else tls.key,
    )
    server = QuickStopServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_until_started(server, thread, timeout)
        yield f"{'http' if tls is None else 'https'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.005)
