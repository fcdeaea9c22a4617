"""``GET /api/v1/connections/{id}/marketo-hash?email=`` and KARTE's two Marketo segments as
profile queries (``?has=``), over real HTTP on SQLite and PostgreSQL (issue 19, point 5)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from renkei.events.profiles import attach_identity, resolve_profile
from renkei.store import Database
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import admin_client, running_hub

PRIVATE_KEY = "mk-private-0123"
COOKIE = "id:123-ABC-456&token:_mch-example.com-1700000000000-12345"
MARKETO = {
    "name": "mkto",
    "connector": "marketo",
    "config": {"base_url": "https://123-ABC-456.mktorest.com"},
    "credentials": {
        "client_id": "id",
        "client_secret": "secret",
        "munchkin_private_key": PRIVATE_KEY,
    },
}
BARE = {**MARKETO, "name": "bare", "credentials": {"client_id": "i", "client_secret": "s"}}
CHAT = {
    "name": "chat",
    "connector": "slack",
    "credentials": {"webhook_url": "https://hooks.slack.com/services/T0/B0/x"},
}


@dataclass
class Api:
    client: httpx.Client
    base_url: str
    database_url: str
    marketo_id: str


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> Iterator[Api]:
    """One hub per module and backend, with the three connections every test reads (the
    tests only read them, or add what no other test looks at)."""
    database_url = database_factory.new_url(request.param)
    with (
        running_hub(database_url, with_worker=False) as (base_url, _),
        admin_client(base_url) as client,
    ):
        ids = []
        for body in (MARKETO, BARE, CHAT):
            created = client.post("/api/v1/connections", json=body)
            assert created.status_code == 201, created.text
            assert PRIVATE_KEY not in created.text
            ids.append(created.json()["id"])
        yield Api(client, base_url, database_url, ids[0])


def test_marketo_hash_is_sha1_of_the_private_key_then_the_email(api: Api) -> None:
    client = api.client
    answer = client.get(
        f"/api/v1/connections/{api.marketo_id}/marketo-hash", params={"email": "dan@example.com"}
    )
    assert answer.status_code == 200, answer.text
    by_hand = hashlib.sha1(b"mk-private-0123dan@example.com").hexdigest()
    assert answer.json() == {"email": "dan@example.com", "marketo_hash": by_hand}
    by_name = client.get("/api/v1/connections/mkto/marketo-hash?email=dan@example.com")
    assert by_name.json()["marketo_hash"] == by_hand
    assert PRIVATE_KEY not in client.get("/api/v1/connections/mkto").text


async def _linked_people(database_url: str, connection_id: str) -> None:
    database = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with database.transaction() as tx:
            lead = await resolve_profile(tx, [("email", "lead@example.com")], now=now)
            await attach_identity(tx, lead, "marketo_lead_id", f"{connection_id}:7", now=now)
            browser = await resolve_profile(tx, [("anonymous_id", "anon-9")], now=now)
            await attach_identity(tx, browser, "marketo_cookie", COOKIE, now=now)
            await attach_identity(tx, browser, "marketo_lead_id", "other-connection:8", now=now)
            await resolve_profile(tx, [("email", "nobody@example.com")], now=now)
    finally:
        await database.dispose()


def test_karte_segments_are_profile_queries(api: Api) -> None:
    client = api.client
    asyncio.run(_linked_people(api.database_url, api.marketo_id))

    def emails_and_anonymous(**params: str) -> set[str]:
        answer = client.get("/api/v1/profiles", params=params)
        assert answer.status_code == 200, answer.text
        return {
            i["value"]
            for p in answer.json()["data"]
            for i in p["identities"]
            if i["kind"] in ("email", "anonymous_id")
        }

    # "Marketo lead linked" (of this connection, or of any).
    assert emails_and_anonymous(has="marketo_lead_id", connection="mkto") == {"lead@example.com"}
    assert emails_and_anonymous(has="marketo_lead_id") == {"lead@example.com", "anon-9"}
    # "marketo_cookie linked".
    assert emails_and_anonymous(has="marketo_cookie") == {"anon-9"}
    assert emails_and_anonymous(has="marketo_cookie", email="lead@example.com") == set()


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/connections/nope/marketo-hash?email=a@example.com", 404, "not_found"),
        ("/api/v1/connections/mkto/marketo-hash", 422, "validation_failed"),
        ("/api/v1/connections/mkto/marketo-hash?email=", 422, "validation_failed"),
        ("/api/v1/connections/mkto/marketo-hash?email=not-an-email", 422, "invalid_email"),
        ("/api/v1/connections/bare/marketo-hash?email=a@example.com", 422, "munchkin_key_missing"),
        ("/api/v1/connections/chat/marketo-hash?email=a@example.com", 422, "not_marketo"),
        ("/api/v1/profiles?has=Not%20A%20Kind", 400, "invalid_filter"),
        ("/api/v1/profiles?has=marketo_lead_id&connection=nope", 404, "not_found"),
    ],
)
def test_bad_input_is_a_clear_4xx(api: Api, path: str, status: int, code: str) -> None:
    answer = api.client.get(path)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code, answer.text
    assert PRIVATE_KEY not in answer.text


def test_a_reader_may_not_ask_for_a_hash(api: Api) -> None:
    token = api.client.post("/api/v1/tokens", json={"name": "ro", "scope": "read"}).json()
    secret = token.get("token") or token.get("secret")
    with httpx.Client(
        base_url=api.base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    ) as reader:
        answer = reader.get("/api/v1/connections/mkto/marketo-hash?email=a@example.com")
        assert answer.status_code == 403, answer.text
