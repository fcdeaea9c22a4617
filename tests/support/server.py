"""Real HTTP on loopback: run a hub's ASGI app under uvicorn in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from renkei.api.app import create_app
from renkei.hub import Hub
from renkei.sandbox import QuickStopServer
from renkei.security.keyring import generate_key
from renkei.settings import Settings

ADMIN_TOKEN = "rk_admin_test-bootstrap-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "secret_key": [generate_key()],
        "allow_private_targets": True,
        "log_format": "json",
        "worker_poll_interval": 0.2,
        # A loaded machine (two test processes, subprocesses, browsers on two cores) can
        # keep the suite's PostgreSQL from answering for seconds: a test that is not about
        # the database's timeouts should not fail on them (those tests set their own).
        "database_connect_timeout_seconds": 10.0,
        "database_pool_timeout_seconds": 15.0,
    }
    values.update(overrides)
    return Settings(**values)


class ServerThread:
    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
        self.server = QuickStopServer(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextmanager
def running_hub(
    database_url: str, *, with_worker: bool = True, hub: Hub | None = None, **overrides: Any
) -> Iterator[tuple[str, Hub]]:
    """Yield ``(base_url, hub)`` for a hub served on a free loopback port."""
    hub = hub or Hub(test_settings(database_url, **overrides))
    with ServerThread(create_app(hub, with_worker=with_worker), free_port()) as server:
        yield server.url, hub


def admin_client(base_url: str, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
