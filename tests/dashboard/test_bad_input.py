"""The dashboard's forms given bad input: the message on the page and the right status,
never a 500 (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.dashboard.served import hidden_csrf, served_dashboard, signed_in
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import ADMIN_TOKEN, admin_client

GOOD = {
    "name": "Receipts",
    "url": "https://hooks.example.com/maac",
    "event_types": "receipt.validated",
}


@pytest.fixture(scope="module", params=BACKENDS)
def dashboard_url(
    request: pytest.FixtureRequest, database_factory: DatabaseFactory
) -> Iterator[str]:
    """One server per backend for the whole table. Private targets refused, as in
    production: the private-URL rows need the policy."""
    database_url = database_factory.new_url(str(request.param))
    with served_dashboard(database_url, allow_private_targets=False) as (url, _):
        admin_client(url).post("/api/v1/event-types", json={"name": "receipt.validated"})
        yield url


@pytest.fixture
def dashboard(dashboard_url: str) -> tuple[httpx.Client, str]:
    client = signed_in(dashboard_url, ADMIN_TOKEN)
    return client, hidden_csrf(client.get("/ui/webhooks/new").text)


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"name": ""}, 422, "give the endpoint a name"),
        ({"name": "   "}, 422, "give the endpoint a name"),
        ({"url": ""}, 422, "give the endpoint&#39;s URL"),
        ({"url": "not a url"}, 422, "url"),
        ({"url": "ftp://hooks.example.com/x"}, 422, "url"),
        ({"url": "http://127.0.0.1:9/hook"}, 422, "127.0.0.1"),
        ({"url": "http://10.1.2.3/hook"}, 422, "10.1.2.3"),
        ({"event_types": "no.such.type"}, 422, "unknown event type: no.such.type"),
        ({"filter": "{not json"}, 422, "the filter is not valid JSON"),
        ({"headers": "no colon here"}, 422, "a header line must read Header: value"),
        ({"rate_limit": "fast"}, 422, "the rate limit must be a number"),
        ({"rate_limit": "-1"}, 422, "the rate limit must be above 0"),
        ({"name": "x" * 500}, 422, "name"),
    ],
)
def test_create_endpoint_refuses_bad_input_on_the_page(
    dashboard: tuple[httpx.Client, str], change: dict[str, str], status: int, message: str
) -> None:
    client, csrf = dashboard
    answer = client.post("/ui/webhooks", data={**GOOD, **change, "csrf_token": csrf})
    assert answer.status_code == status, answer.text[-2000:]
    assert 'role="alert"' in answer.text
    assert message.lower() in answer.text.lower()
    assert '<form method="post" action="/ui/webhooks"' in answer.text  # the form again


def test_the_form_keeps_what_was_typed(dashboard: tuple[httpx.Client, str]) -> None:
    client, csrf = dashboard
    answer = client.post(
        "/ui/webhooks", data={**GOOD, "url": "nope", "name": "<Kept>", "csrf_token": csrf}
    )
    assert 'value="&lt;Kept&gt;"' in answer.text
    assert 'value="receipt.validated" checked' in answer.text


@pytest.mark.parametrize(
    ("method", "path", "data", "status"),
    [
        ("POST", "/ui/webhooks", {**GOOD}, 403),  # no CSRF token
        ("POST", "/ui/webhooks", {**GOOD, "csrf_token": "forged"}, 403),
        ("POST", "/ui/logout", {}, 403),
        ("DELETE", "/ui/webhooks", {}, 405),
        ("PUT", "/ui/webhooks/ep_nope/pause", {}, 405),
        ("GET", "/ui/webhooks/ep_nope/pause", {}, 405),
        ("GET", "/ui/webhooks/ep_nope", {}, 404),
        ("GET", "/ui/no-such-page", {}, 404),
    ],
)
def test_refusals_are_pages_with_their_status(
    dashboard: tuple[httpx.Client, str],
    method: str,
    path: str,
    data: dict[str, str],
    status: int,
) -> None:
    client, _ = dashboard
    answer = client.request(method, path, data=data or None)
    assert answer.status_code == status, answer.text[-2000:]
    assert answer.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in answer.text


@pytest.mark.parametrize(
    ("action", "data", "status", "message"),
    [
        ("test", {"event_type": ""}, 422, "choose an event type"),
        ("recover", {"since": "yesterday"}, 422, "give the time to recover from"),
    ],
)
def test_endpoint_actions_refuse_bad_input_on_the_page(
    dashboard: tuple[httpx.Client, str],
    action: str,
    data: dict[str, str],
    status: int,
    message: str,
) -> None:
    client, csrf = dashboard
    created = client.post("/ui/webhooks", data={**GOOD, "csrf_token": csrf})
    assert created.status_code == 303, created.text[-2000:]
    path = created.headers["location"].split("?")[0]
    answer = client.post(f"{path}/{action}", data={**data, "csrf_token": csrf})
    assert answer.status_code == status, answer.text[-2000:]
    assert message in answer.text


def test_a_form_too_large_is_refused(dashboard: tuple[httpx.Client, str]) -> None:
    client, csrf = dashboard
    answer = client.post(
        "/ui/webhooks", data={**GOOD, "description": "x" * 100_000, "csrf_token": csrf}
    )
    assert answer.status_code == 413
