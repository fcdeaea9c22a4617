"""Helpers for the catalog connectors' tests: open a connector on a sandbox served on
loopback, with a clock that jumps over every wait and a deterministic backoff."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry

from renkei.connectors import Backoff, CallContext, Connection, Connector, ConnectorMetrics
from renkei.sandbox import serve_in_thread
from renkei.sandbox._base import VendorSandbox

from .conftest import RecordingClock

S = TypeVar("S", bound=VendorSandbox[Any])

# Retries wait 0.5, 1, 2 s (no jitter), or what the vendor asks for.
BACKOFF = Backoff(attempts=4, base=0.5, multiplier=2.0, jitter=0.0, max_wait=120.0)


def serve(stack: contextlib.ExitStack, sandbox: VendorSandbox[Any]) -> str:
    """Serve ``sandbox`` on 127.0.0.1 until ``stack`` closes; its base URL."""
    return stack.enter_context(serve_in_thread(sandbox.app))


def open_ctx(
    connector: Connector,
    clock: RecordingClock,
    *,
    credentials: Mapping[str, str],
    config: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> CallContext:
    kwargs.setdefault("backoff", BACKOFF)
    kwargs.setdefault("metrics", ConnectorMetrics(CollectorRegistry()))
    connection = Connection("test", credentials=dict(credentials), config=dict(config or {}))
    return connector.open(connection, clock=clock, **kwargs)


def calls(sandbox: VendorSandbox[Any], method: str, path_prefix: str) -> int:
    """How many requests the sandbox received for ``method`` on paths under the prefix."""
    return sum(
        1
        for call in sandbox.requests
        if call.method == method and call.path.startswith(path_prefix)
    )


@dataclass
class TokenVendor(Generic[S]):
    """A sandbox served on loopback, and how to open ``connector`` on it with an access
    token: ``config`` is the connection's, before what a test adds."""

    connector: Connector
    sandbox: S
    url: str
    clock: RecordingClock
    token: str
    config: dict[str, Any] = field(default_factory=dict)

    def open(self, token: str | None = None, **config: Any) -> CallContext:
        return open_ctx(
            self.connector,
            self.clock,
            credentials={"access_token": self.token if token is None else token},
            config={**self.config, **config},
        )
