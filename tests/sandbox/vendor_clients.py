"""Start a catalog sandbox on loopback and hand back a plain httpx client for it."""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar

import httpx

from renkei.sandbox import serve_in_thread
from renkei.sandbox._base import VendorSandbox

S = TypeVar("S", bound=VendorSandbox[Any])


def client_for(
    stack: contextlib.ExitStack, sandbox: S, **client_options: Any
) -> tuple[S, httpx.Client, str]:
    base_url = stack.enter_context(serve_in_thread(sandbox.app))
    client = stack.enter_context(httpx.Client(base_url=base_url, timeout=10, **client_options))
    return sandbox, client, base_url
