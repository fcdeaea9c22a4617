"""Local simulators ("sandboxes") of vendor APIs that behave as the vendors document:
the same paths, bodies and response shapes, the same limits and errors, on a movable
clock, with every exceeded limit recorded so a test can assert there were none.

    clock = ManualClock()
    sandbox = create_marketo_app(MarketoSandboxConfig(rate_limit_calls=5), clock)
    with serve_in_thread(sandbox.app) as base_url:
        run_connector(base_url)               # identity at base_url + "/identity"
    assert sandbox.violations == []
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from renkei.clock import Clock
from renkei.sandbox._base import VendorSandbox
from renkei.sandbox._catalog import CATALOG_SANDBOXES
from renkei.sandbox._common import (
    Counters,
    Fault,
    Gate,
    QuickStopServer,
    Violation,
    ViolationKind,
    serve_in_thread,
)
from renkei.sandbox.hubspot import HubSpotSandbox, HubSpotSandboxConfig, create_hubspot_app
from renkei.sandbox.marketo import MarketoSandbox, MarketoSandboxConfig, create_marketo_app
from renkei.sandbox.tls import TlsFiles, self_signed

SANDBOX_NAMES = ("marketo", "hubspot", *CATALOG_SANDBOXES)

Sandbox = MarketoSandbox | HubSpotSandbox | VendorSandbox[Any]


def create_sandbox(name: str, clock: Clock | None = None, **overrides: Any) -> Sandbox:
    """The sandbox called ``name`` with its config's fields overridden by ``overrides``."""
    if name == "marketo":
        return create_marketo_app(MarketoSandboxConfig(**overrides), clock)
    if name == "hubspot":
        return create_hubspot_app(HubSpotSandboxConfig(**overrides), clock)
    if name in CATALOG_SANDBOXES:
        return CATALOG_SANDBOXES[name](clock, **overrides)
    raise ValueError(f"unknown sandbox {name!r}; choose one of {', '.join(SANDBOX_NAMES)}")


def serve(name: str, host: str, port: int, **overrides: Any) -> None:
    """Run one sandbox with uvicorn until interrupted (``renkei sandbox NAME``)."""
    sandbox = create_sandbox(name, **overrides)
    print(connection_help(sandbox, f"http://{host}:{port}"), file=sys.stderr)
    uvicorn.run(sandbox.app, host=host, port=port, log_level="info")


def connection_help(sandbox: Sandbox, base_url: str) -> str:
    """How a client connects; these are sandbox credentials, not a vendor's."""
    if isinstance(sandbox, VendorSandbox):
        return sandbox.connection_help(base_url)
    if isinstance(sandbox, MarketoSandbox):
        config = sandbox.config
        return (
            f"Marketo sandbox at {base_url}\n"
            f"  REST endpoint: {base_url}/rest   identity: {base_url}/identity\n"
            f"  client_id={config.client_id} client_secret={config.client_secret}"
        )
    return (
        f"HubSpot sandbox at {base_url}\n  Authorization: Bearer {sandbox.config.access_tokens[0]}"
    )


__all__ = [
    "SANDBOX_NAMES",
    "Counters",
    "Fault",
    "Gate",
    "HubSpotSandbox",
    "HubSpotSandboxConfig",
    "MarketoSandbox",
    "MarketoSandboxConfig",
    "QuickStopServer",
    "Sandbox",
    "TlsFiles",
    "Violation",
    "ViolationKind",
    "connection_help",
    "create_hubspot_app",
    "create_marketo_app",
    "create_sandbox",
    "self_signed",
    "serve",
    "serve_in_thread",
]
