"""The dashboard's ground rules over real HTTP, on both backends: where it answers, sign-in
and sessions, CSRF, the security headers, languages."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from renkei.security.tokens import hash_token
from renkei.store import Database
from renkei.store.tables.dashboard import dashboard_sessions
from tests.dashboard.served import hidden_csrf, served_dashboard, signed_in
from tests.support.server import ADMIN_TOKEN, admin_client


def test_root_redirects_to_the_dashboard_and_the_api_is_unchanged(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        root = httpx.get(f"{url}/")
        assert root.status_code == 307
        assert root.headers["location"] == "/ui/"
        api = httpx.get(f"{url}/api/v1/endpoints")
        assert api.status_code == 401
        assert api.json()["error"]["code"] == "unauthorized"
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/docs").status_code == 200
        unknown = httpx.get(f"{url}/nowhere")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"


def test_pages_ask_to_sign_in_and_carry_the_security_headers(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        overview = httpx.get(f"{url}/ui/")
        assert overview.status_code == 303
        assert overview.headers["location"] == "/ui/login?next=/ui/"
        login = httpx.get(f"{url}/ui/login")
        policy = login.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert login.headers["x-frame-options"] == "DENY"
        assert login.headers["cache-control"] == "no-store"
        assert "<script>" not in login.text  # every script is a file under /ui/static
        htmx = httpx.get(f"{url}/ui/static/htmx.min.js")
        assert htmx.status_code == 200
        assert htmx.headers["x-frame-options"] == "DENY"


def test_sign_in_keeps_no_token_in_the_cookie_or_the_database(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        client = signed_in(url, ADMIN_TOKEN)
        cookie = next(c for c in client.cookies.jar if c.name == "renkei_session")
        assert ADMIN_TOKEN not in cookie.value
        assert cookie.path == "/ui"
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert client.get("/ui/").status_code == 200

        async def rows() -> list[tuple[str, ...]]:
            database = Database(database_url)
            try:
                async with database.read() as connection:
                    result = await connection.execute(select(dashboard_sessions))
                    return [tuple(str(value) for value in row) for row in result]
            finally:
                await database.dispose()

        stored = asyncio.run(rows())
        assert len(stored) == 1
        assert not any(ADMIN_TOKEN in value or cookie.value in value for value in stored[0])
        assert hash_token(ADMIN_TOKEN) in stored[0]


def test_a_wrong_token_is_refused_on_the_page(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        client = httpx.Client(base_url=url)
        csrf = hidden_csrf(client.get("/ui/login").text)
        answer = client.post("/ui/login", data={"csrf_token": csrf, "token": "rk_admin_nope"})
        assert answer.status_code == 401
        assert "this API token is not valid" in answer.text
        assert "renkei_session" not in answer.headers.get("set-cookie", "")


def test_sign_in_without_its_csrf_token_is_refused(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        client = httpx.Client(base_url=url)
        client.get("/ui/login")
        answer = client.post("/ui/login", data={"token": ADMIN_TOKEN})
        assert answer.status_code == 403
        assert "CSRF" in answer.text


def test_sign_out_ends_the_session_and_a_revoked_token_ends_it_too(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        client = signed_in(url, ADMIN_TOKEN)
        csrf = hidden_csrf(client.get("/ui/").text)
        kept = dict(client.cookies)
        out = client.post("/ui/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/ui/login"
        replayed = httpx.get(f"{url}/ui/", cookies=kept)
        assert replayed.status_code == 303  # the old cookie opens nothing

        admin = admin_client(url)
        issued = admin.post("/api/v1/tokens", json={"name": "short-lived", "scope": "read"})
        reader = signed_in(url, issued.json()["token"])
        assert reader.get("/ui/").status_code == 200
        assert admin.delete(f"/api/v1/tokens/{issued.json()['id']}").status_code == 204
        assert reader.get("/ui/").status_code == 303


@pytest.mark.parametrize(
    ("accept_language", "heading"), [("ja,en;q=0.5", "概要"), ("fr, en;q=0.1", "Overview")]
)
def test_the_language_follows_the_browser_or_the_switch(
    database_url: str, accept_language: str, heading: str
) -> None:
    with served_dashboard(database_url) as (url, _):
        client = signed_in(url, ADMIN_TOKEN)
        page = client.get("/ui/", headers={"Accept-Language": accept_language})
        assert f"<h1>{heading}</h1>" in page.text
        switched = client.get("/ui/language", params={"lang": "ja", "next": "/ui/"})
        assert switched.status_code == 303
        assert "<h1>概要</h1>" in client.get("/ui/", headers={"Accept-Language": "en"}).text


def test_the_overview_counts_the_last_24_hours(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        admin = admin_client(url)
        admin.post("/api/v1/event-types", json={"name": "receipt.validated"})
        made = admin.post(
            "/api/v1/endpoints",
            json={"name": "CRM <points>", "url": "https://crm.example.com/hook"},
        )
        assert made.status_code == 201, made.text
        for number in range(3):
            sent = admin.post(
                "/api/v1/events", json={"type": "receipt.validated", "data": {"n": number}}
            )
            assert sent.status_code in (200, 201, 202), sent.text
        page = signed_in(url, ADMIN_TOKEN).get("/ui/").text
        assert '<p class="figure">3</p>' in page
        assert 'pending</span></th><td class="num">3</td>' in page
        # the hour-by-hour chart: one pending bar, and its figures as a table
        assert page.count('<rect class="bar pending"') == 1
        assert "<title>pending: 3</title>" in page
