"""Fixtures: a ManualClock, and factories that build a sandbox, serve it with uvicorn on
127.0.0.1 in a thread and hand back an httpx client speaking the vendor's protocol."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from renkei.clock import ManualClock
from renkei.sandbox import (
    HubSpotSandbox,
    HubSpotSandboxConfig,
    MarketoSandbox,
    MarketoSandboxConfig,
    create_hubspot_app,
    create_marketo_app,
    serve_in_thread,
)
from renkei.sandbox.hubspot import DEFAULT_TOKEN


class MarketoApi:
    """A bare Marketo REST client: fetches a token from Identity for every call (the
    sandbox hands back the same token while it is valid)."""

    def __init__(self, http: httpx.Client, sandbox: MarketoSandbox) -> None:
        self.http = http
        self.sandbox = sandbox

    def identity(self, **overrides: str) -> httpx.Response:
        config = self.sandbox.config
        params = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            **overrides,
        }
        return self.http.get("/identity/oauth/token", params=params)

    def token(self) -> str:
        response = self.identity()
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def get(self, path: str, token: str | None = None, **params: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        response = self.http.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def post(self, path: str, body: Any, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        response = self.http.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def exit_stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture
def marketo(
    clock: ManualClock, exit_stack: contextlib.ExitStack
) -> Callable[..., tuple[MarketoSandbox, MarketoApi]]:
    def start(**overrides: Any) -> tuple[MarketoSandbox, MarketoApi]:
        sandbox = create_marketo_app(MarketoSandboxConfig(**overrides), clock)
        base_url = exit_stack.enter_context(serve_in_thread(sandbox.app))
        http = exit_stack.enter_context(httpx.Client(base_url=base_url, timeout=10))
        return sandbox, MarketoApi(http, sandbox)

    return start


@pytest.fixture
def hubspot(
    clock: ManualClock, exit_stack: contextlib.ExitStack
) -> Callable[..., tuple[HubSpotSandbox, httpx.Client]]:
    def start(**overrides: Any) -> tuple[HubSpotSandbox, httpx.Client]:
        sandbox = create_hubspot_app(HubSpotSandboxConfig(**overrides), clock)
        base_url = exit_stack.enter_context(serve_in_thread(sandbox.app))
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        http = exit_stack.enter_context(
            httpx.Client(base_url=base_url, headers=headers, timeout=10)
        )
        return sandbox, http

    return start
