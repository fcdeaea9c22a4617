"""The dashboard and the API on one loopback port (as ``renkei serve`` composes them), and
a signed-in httpx client for the tests that need no browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from renkei.api.app import create_app
from renkei.dashboard import with_dashboard
from renkei.hub import Hub
from tests.support.server import ServerThread, free_port, test_settings


@contextmanager
def served_dashboard(database_url: str, **overrides: Any) -> Iterator[tuple[str, Hub]]:
    hub = Hub(test_settings(database_url, **overrides))
    app = with_dashboard(create_app(hub, with_worker=False), hub)
    with ServerThread(app, free_port()) as server:
        yield server.url, hub


def hidden_csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def signed_in(base_url: str, token: str) -> httpx.Client:
    """A client holding a session cookie opened with ``token`` through the sign-in form."""
    client = httpx.Client(base_url=base_url, timeout=30)
    form = client.get("/ui/login")
    answer = client.post(
        "/ui/login",
        data={"csrf_token": hidden_csrf(form.text), "token": token, "next": "/ui/"},
    )
    assert answer.status_code == 303, answer.text
    return client
