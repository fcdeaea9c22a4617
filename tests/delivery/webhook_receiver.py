"""A real HTTP receiver on 127.0.0.1 for delivery tests: records every request and answers
what the test's ``behaviour`` says. Runs aiohttp in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.server import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    """time.time() when the request arrived."""
    path: str = "/"

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


Answer = tuple[int, dict[str, str]] | int
Behaviour = Callable[[Received, int], Answer]
"""(request, how many requests with this webhook-id came to this path before it) → status
[, headers]."""


def ok(_: Received, __: int) -> Answer:
    return 200


@dataclass
class Receiver:
    behaviour: Behaviour = ok
    requests: list[Received] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        received = Received(
            {k.lower(): v for k, v in request.headers.items()}, body, time.time(), request.path
        )
        with self._lock:
            key = f"{received.path} {received.headers.get('webhook-id', '')}"
            before = self._seen.get(key, 0)
            self._seen[key] = before + 1
            self.requests.append(received)
        answer = self.behaviour(received, before)
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return web.Response(status=status, headers=headers, text="received")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        loop.run_until_complete(site.start())
        self._started.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def start(self) -> Receiver:
        self._started.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("receiver did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.snapshot()]


def verify(secret: str, received: Received, *, any_time: bool = False) -> Any:
    """Verify with the ``standardwebhooks`` package; ``any_time`` skips only its 5-minute
    timestamp tolerance (tests on a ManualClock sent days ahead)."""
    verifier = _AnyTime(secret) if any_time else Webhook(secret)
    return verifier.verify(received.body, received.headers)


def verifies(secret: str, received: Received, *, any_time: bool = False) -> bool:
    try:
        verify(secret, received, any_time=any_time)
    except WebhookVerificationError:
        return False
    return True


class _AnyTime(Webhook):
    def _Webhook__verify_timestamp(self, timestamp_header: str) -> datetime:
        return datetime.fromtimestamp(float(timestamp_header), tz=UTC)


def wait_until(condition: Callable[[], bool], timeout: float = 60, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)
