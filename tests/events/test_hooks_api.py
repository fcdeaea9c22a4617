"""Inbound webhooks at /hooks/{source_id}: every verification scheme end to end, mapping,
raw requests kept (redacted) and replayed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from renkei.hub import Hub
from renkei.store import Database
from tests.events.conftest import assert_error, count, query
from tests.support.rawscan import assert_not_stored

BODY = orjson.dumps({"id": "wh-1", "type": "contact.created", "email": "Ada@Example.com"})
TAMPERED = BODY.replace(b"Ada", b"Eve")
MAPPING = {"type": "type", "id": "id", "email": "email"}
SECRET = "s3cr3t-value-for-tests-0123456789"
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
STALE = 600  # seconds: twice the 5-minute tolerance


def mac(key: str | bytes, message: bytes) -> bytes:
    return hmac.new(key.encode() if isinstance(key, str) else key, message, hashlib.sha256).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


Signer = Callable[[bytes, str, int], tuple[dict[str, str], str]]
"""(body, url, unix time) -> (headers, query string)"""


@dataclass(frozen=True)
class Scheme:
    name: str
    verification: dict[str, Any]
    sign: Signer
    timestamped: bool
    secrets: tuple[str, ...] = (SECRET,)


def _standard(prefix: str) -> Signer:
    def sign(body: bytes, url: str, now: int) -> tuple[dict[str, str], str]:
        signature = Webhook(WHSEC).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode())
        return {
            f"{prefix}-id": "msg_1",
            f"{prefix}-timestamp": str(now),
            f"{prefix}-signature": signature,
        }, ""

    return sign


def _basic(body: bytes, url: str, now: int) -> tuple[dict[str, str], str]:
    return {"Authorization": "Basic " + b64(f"marketo:{SECRET}".encode())}, ""


SCHEMES = [
    Scheme("none", {"scheme": "none"}, lambda body, url, now: ({}, ""), False, ()),
    Scheme(
        "shared_secret-header",
        {"scheme": "shared_secret", "secret": SECRET, "header": "X-Braze-Key"},
        lambda body, url, now: ({"X-Braze-Key": SECRET}, ""),
        False,
    ),
    Scheme(
        "shared_secret-query",
        {"scheme": "shared_secret", "secret": SECRET, "query": "key"},
        lambda body, url, now: ({}, urlencode({"key": SECRET})),
        False,
    ),
    Scheme(
        "basic_auth",
        {"scheme": "basic_auth", "username": "marketo", "password": SECRET},
        _basic,
        False,
    ),
    Scheme(
        "hmac-hex-body",
        {"scheme": "hmac", "secret": SECRET, "header": "X-Signature", "prefix": "sha256="},
        lambda body, url, now: ({"X-Signature": "sha256=" + mac(SECRET, body).hex()}, ""),
        False,
    ),
    Scheme(
        "hmac-base64-timestamp",
        {
            "scheme": "hmac",
            "secret": SECRET,
            "header": "X-Sig",
            "encoding": "base64",
            "timestamp_header": "X-Timestamp",
        },
        lambda body, url, now: (
            {"X-Sig": b64(mac(SECRET, f"{now}.".encode() + body)), "X-Timestamp": str(now)},
            "",
        ),
        True,
    ),
    Scheme(
        "standard_webhooks",
        {"scheme": "standard_webhooks", "secret": WHSEC},
        _standard("webhook"),
        True,
        (WHSEC,),
    ),
    Scheme(
        "svix",
        {"scheme": "standard_webhooks", "secret": WHSEC},
        _standard("svix"),
        True,
        (WHSEC,),
    ),
    Scheme(
        "hubspot_v3",
        {"scheme": "hubspot_v3", "client_secret": SECRET},
        lambda body, url, now: (
            {
                "X-HubSpot-Signature-v3": b64(
                    mac(SECRET, b"POST" + url.encode() + body + str(now * 1000).encode())
                ),
                "X-HubSpot-Request-Timestamp": str(now * 1000),
            },
            "",
        ),
        True,
    ),
    Scheme(
        "stripe",
        {"scheme": "stripe", "secret": WHSEC},
        lambda body, url, now: (
            {"Stripe-Signature": f"t={now},v1={mac(WHSEC, f'{now}.'.encode() + body).hex()}"},
            "",
        ),
        True,
        (WHSEC,),
    ),
    Scheme(
        "shopify",
        {"scheme": "shopify", "secret": SECRET},
        lambda body, url, now: ({"X-Shopify-Hmac-Sha256": b64(mac(SECRET, body))}, ""),
        False,
    ),
    Scheme(
        "klaviyo",
        {"scheme": "klaviyo", "secret": SECRET},
        lambda body, url, now: (
            {
                "Klaviyo-Signature": mac(SECRET, body + str(now).encode()).hex(),
                "Klaviyo-Timestamp": str(now),
            },
            "",
        ),
        True,
    ),
]


def create_hook(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    created = admin.post("/api/v1/sources", json={"kind": "webhook", "name": "hook", **fields})
    assert created.status_code == 201, created.text
    return dict(created.json())


def send(
    url: str, scheme: Scheme, body: bytes = BODY, *, signed_body: bytes | None = None, age: int = 0
) -> httpx.Response:
    headers, query_string = scheme.sign(signed_body or body, url, int(time.time()) - age)
    target = f"{url}?{query_string}" if query_string else url
    return httpx.post(
        target, content=body, headers={"Content-Type": "application/json", **headers}, timeout=30
    )


def failures(base_url: str, source_id: str) -> float:
    metrics = httpx.get(f"{base_url}/metrics", timeout=30).text  # as send(): CI load spikes
    pattern = (
        rf'renkei_hook_verification_failures_total\{{[^}}]*source_id="{source_id}"[^}}]*\}} (\S+)'
    )
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


def not_stored(database_url: str, *secrets: str) -> None:
    async def run() -> None:
        database = Database(database_url)
        try:
            await assert_not_stored(database, *secrets)
        finally:
            await database.dispose()

    asyncio.run(run())


@pytest.mark.parametrize("scheme", SCHEMES, ids=[scheme.name for scheme in SCHEMES])
def test_verification_scheme_end_to_end(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str, scheme: Scheme
) -> None:
    base_url, _ = served
    source = create_hook(admin, verification=scheme.verification, mapping=MAPPING)
    url = source["url"]
    assert url == f"{base_url}/hooks/{source['id']}"

    accepted = send(url, scheme)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"success": True, "event_ids": ["wh-1"]}
    event = admin.get("/api/v1/events/wh-1").json()
    assert event["type"] == "contact.created"
    assert event["email"] == "Ada@Example.com"
    assert event["source_id"] == source["id"]
    profile = admin.get("/api/v1/profiles", params={"email": "ada@example.com"}).json()["data"]
    assert len(profile) == 1

    stored = admin.get(f"/api/v1/sources/{source['id']}/requests").json()["data"]
    assert len(stored) == 1 and stored[0]["status"] == "accepted"
    assert stored[0]["event_ids"] == ["wh-1"]
    not_stored(database_url, *scheme.secrets)

    if scheme.name == "none":
        return
    before = failures(base_url, source["id"])
    if scheme.name.startswith(("shared_secret", "basic_auth")):
        # These vendors don't sign the body, so there is nothing to tamper with but the
        # credential itself.
        headers, query_string = scheme.sign(BODY, url, int(time.time()))
        headers = {name: value.replace(SECRET, "wrong") for name, value in headers.items()}
        if scheme.name == "basic_auth":
            headers["Authorization"] = "Basic " + b64(b"marketo:wrong")
        target = f"{url}?{query_string.replace(SECRET, 'wrong')}" if query_string else url
        tampered = httpx.post(target, content=TAMPERED, headers=headers)
    else:
        tampered = send(url, scheme, TAMPERED, signed_body=BODY)
    assert_error(tampered, 401, "verification_failed")
    if scheme.timestamped:
        stale = send(url, scheme, age=STALE)
        assert_error(stale, 401, "verification_failed")
        assert "tolerance" in stale.json()["error"]["message"]
    else:  # no timestamp to be stale: a request made without the secret instead
        assert_error(
            httpx.post(
                url,
                content=BODY,
                headers={"Content-Type": "application/json", "X-Braze-Key": "guess"},
            ),
            401,
            "verification_failed",
        )
    assert failures(base_url, source["id"]) == before + 2
    assert count(database_url, "events") == 1
    assert count(database_url, "webhook_requests") == 1  # refused requests are not kept


def test_mailchimp_form_posts_and_get_validation(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    source = create_hook(
        admin,
        name="mailchimp",
        verification={"scheme": "shared_secret", "secret": SECRET, "query": "key"},
        mapping={
            "type": "type",
            "type_prefix": "mailchimp.",
            "email": "data.email",
            "occurred_at": "fired_at",
        },
    )
    url = f"{source['url']}?key={SECRET}"
    validation = httpx.get(url)
    assert validation.status_code == 200
    challenge = httpx.get(f"{source['url']}?hub.challenge=abc123")
    assert challenge.text == "abc123"
    form = {
        "type": "subscribe",
        "fired_at": "2026-01-01 10:00:00",
        "data[email]": "Grace@Example.com",
        "data[merges][FNAME]": "Grace",
    }
    answer = httpx.post(url, data=form)
    assert answer.status_code == 200, answer.text
    event = admin.get("/api/v1/events").json()["data"][0]
    assert event["type"] == "mailchimp.subscribe"
    assert event["email"] == "Grace@Example.com"
    assert event["occurred_at"] == "2026-01-01T10:00:00.000Z"
    assert event["data"]["data"]["merges"] == {"FNAME": "Grace"}
    stored = admin.get(f"/api/v1/sources/{source['id']}/requests").json()["data"][0]
    assert stored["path"].endswith("?key=[redacted]")
    not_stored(database_url, SECRET)


def test_mapping_from_headers_items_and_dedupe(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    source = create_hook(
        admin,
        mapping={
            "items": "data",
            "type": {"header": "X-Event-Type"},
            "id": {"header": "X-Delivery-Id"},
            "user_id": "profile.external_id",
        },
    )
    body = orjson.dumps(
        {"data": [{"profile": {"external_id": "u-7"}}, {"profile": {"external_id": "u-8"}}]}
    )
    headers = {
        "Content-Type": "application/json",
        "X-Event-Type": "klaviyo.opened",
        "X-Delivery-Id": "d-1",
    }
    for _ in range(2):  # the vendor retries: same delivery id, stored once
        answer = httpx.post(source["url"], content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["event_ids"] == ["d-1:0", "d-1:1"]
    rows = query(database_url, "SELECT id, type, user_id FROM events ORDER BY id")
    assert [tuple(row) for row in rows] == [
        ("d-1:0", "klaviyo.opened", "u-7"),
        ("d-1:1", "klaviyo.opened", "u-8"),
    ]
    assert count(database_url, "webhook_requests") == 2  # both deliveries kept


def test_unreadable_request_is_kept_and_replayed_after_the_mapping_is_fixed(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    source = create_hook(
        admin,
        verification={"scheme": "shared_secret", "secret": SECRET, "header": "X-Token"},
        mapping={"type": "event_name", "id": "id"},
    )
    headers = {"Content-Type": "application/json", "X-Token": SECRET, "X-Trace": "t-1"}
    refused = httpx.post(source["url"], content=BODY, headers=headers)
    assert_error(refused, 422, "missing_type")
    assert count(database_url, "events") == 0
    kept = admin.get(f"/api/v1/sources/{source['id']}/requests").json()["data"]
    assert kept[0]["status"] == "rejected"
    assert kept[0]["error"]["code"] == "missing_type"
    assert kept[0]["headers"]["x-token"] == "[redacted]"
    assert kept[0]["headers"]["x-trace"] == "t-1"
    detail = admin.get(f"/api/v1/sources/{source['id']}/requests/{kept[0]['id']}").json()
    assert orjson.loads(detail["body"]) == orjson.loads(BODY)

    patched = admin.patch(f"/api/v1/sources/{source['id']}", json={"mapping": MAPPING})
    assert patched.status_code == 200, patched.text
    replay = admin.post(f"/api/v1/sources/{source['id']}/requests/{kept[0]['id']}/replay")
    assert replay.status_code == 200, replay.text
    assert replay.json() == {"event_ids": ["wh-1"], "stored": 1}
    again = admin.post(f"/api/v1/sources/{source['id']}/requests/{kept[0]['id']}/replay")
    assert again.json() == {"event_ids": ["wh-1"], "stored": 0}  # ids dedupe
    assert count(database_url, "events") == 1
    assert (
        admin.get(f"/api/v1/sources/{source['id']}/requests").json()["data"][0]["status"]
        == "accepted"
    )
    not_stored(database_url, SECRET)


def test_bad_bodies_and_unknown_or_disabled_sources(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    base_url, _ = served
    source = create_hook(admin, mapping=MAPPING)
    broken = httpx.post(
        source["url"], content=b'{"id": ', headers={"Content-Type": "application/json"}
    )
    assert_error(broken, 400, "invalid_json")
    assert_error(httpx.post(f"{base_url}/hooks/src_nope", content=BODY), 404, "not_found")
    admin.post(f"/api/v1/sources/{source['id']}/disable")
    assert_error(
        httpx.post(source["url"], content=BODY, headers={"Content-Type": "application/json"}),
        403,
        "source_disabled",
    )
    assert count(database_url, "events") == 0


def test_kept_requests_are_pruned_after_the_retention(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from renkei.events.feature import prune_webhook_requests
    from tests.support import server

    source = create_hook(admin, mapping=MAPPING)
    assert httpx.post(source["url"], content=BODY).status_code == 200
    hub = Hub(server.test_settings(database_url, webhook_request_retention_days=7))

    async def prune(days: float) -> None:
        later = datetime.now(UTC) + timedelta(days=days)
        ctx = SimpleNamespace(services={"hub": hub}, now=lambda: later)
        try:
            await prune_webhook_requests(ctx)  # type: ignore[arg-type]
        finally:
            await hub.database.dispose()

    asyncio.run(prune(6))
    assert count(database_url, "webhook_requests") == 1
    asyncio.run(prune(8))
    assert count(database_url, "webhook_requests") == 0
    assert count(database_url, "events") == 1  # the events stay
