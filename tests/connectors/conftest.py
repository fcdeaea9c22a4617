"""Real HTTP servers on 127.0.0.1 for connector tests, and a clock that records waits."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from renkei.clock import ManualClock
from renkei.connectors import ConnectorHTTP, ConnectorMetrics


class LiveServer:
    """An ASGI app served by uvicorn in a background thread on a free port."""

    def __init__(self, app: ASGIApp) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = ""

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[[ASGIApp], str]]:
    """``url = serve(app)`` starts ``app`` and stops it after the test."""
    servers: list[LiveServer] = []

    def start(app: ASGIApp) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


class RecordingClock(ManualClock):
    """A ManualClock whose ``sleep`` records the wait and jumps the clock forward at once."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def metrics() -> ConnectorMetrics:
    return ConnectorMetrics(CollectorRegistry())


def sample(metrics: ConnectorMetrics, name: str, **labels: str) -> float:
    """A metric's value from the test's own registry (0.0 when never observed)."""
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


def make_http(url: str, metrics: ConnectorMetrics, **kwargs: Any) -> ConnectorHTTP:
    kwargs.setdefault("clock", RecordingClock())
    kwargs.setdefault("connector", "test")
    kwargs.setdefault("connection", "conn")
    return ConnectorHTTP(url, metrics=metrics, **kwargs)


async def settle(rounds: int = 30) -> None:
    """Let every task that can run, run (ManualClock wake-ups take a few loop turns)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


AD_NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> RecordingClock:
    """A recording clock at a fixed moment (a module may define its own)."""
    return RecordingClock(AD_NOW)


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    """Closed after the test: sandboxes served for it stop there."""
    with contextlib.ExitStack() as exit_stack:
        yield exit_stack
