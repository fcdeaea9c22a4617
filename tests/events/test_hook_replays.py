"""A replayed signed webhook is stored once (issue 21.6).

Three identical Standard Webhooks requests used to give three events with the default
mapping. For schemes whose requests carry a message id, the default mapping takes the
event id from it, so a vendor's retry (or an attacker's replay inside the signature
window) stores nothing new. The requests are signed as the vendors sign them (the
``standardwebhooks`` library where a library is installed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from renkei.events.verification import MESSAGE_IDS
from renkei.events.webhook_mapping import build_mapping
from renkei.hub import Hub
from tests.events.conftest import count

WHSEC = "whsec_" + base64.b64encode(b"r" * 32).decode()
SECRET = "vendor-secret-0123456789abcdef"

Signer = Callable[[bytes], dict[str, str]]


def _standard(prefix: str) -> Signer:
    def sign(body: bytes) -> dict[str, str]:
        now = datetime.now(UTC).replace(microsecond=0)
        signature = Webhook(WHSEC).sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, body.decode())
        return {
            f"{prefix}-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            f"{prefix}-timestamp": str(int(now.timestamp())),
            f"{prefix}-signature": signature,
        }

    return sign


def _stripe(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={digest}"}


def _shopify(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Topic": "orders/create",
    }


CASES: list[tuple[str, dict[str, Any], Signer, dict[str, Any], str]] = [
    (
        "standard_webhooks",
        {"scheme": "standard_webhooks", "secret": WHSEC},
        _standard("webhook"),
        {"type": "contact.created", "data": {"email": "ada@example.com"}},
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    ),
    (
        "svix",
        {"scheme": "standard_webhooks", "secret": WHSEC},
        _standard("svix"),
        {"type": "contact.created", "data": {"email": "ada@example.com"}},
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    ),
    (
        "stripe",
        {"scheme": "stripe", "secret": SECRET},
        _stripe,
        {"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "type": "charge.succeeded"},
        "evt_1NG8Du2eZvKYlo2CUI79vXWy",
    ),
    (
        "shopify",
        {"scheme": "shopify", "secret": SECRET},
        _shopify,
        {"id": 820982911946154508, "email": "jon@example.com"},
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    ),
]


@pytest.mark.parametrize(
    ("verification", "sign", "payload", "message_id"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_replayed_request_is_stored_once(
    served: tuple[str, Hub],  # the hub answering at the source's URL
    admin: httpx.Client,
    database_url: str,
    verification: dict[str, Any],
    sign: Signer,
    payload: dict[str, Any],
    message_id: str,
) -> None:
    source = admin.post(
        "/api/v1/sources", json={"kind": "webhook", "name": "vendor", "verification": verification}
    )
    assert source.status_code == 201, source.text
    url = source.json()["url"]
    body = orjson.dumps(payload)
    headers = {"Content-Type": "application/json", **sign(body)}
    answers = [httpx.post(url, content=body, headers=headers, timeout=10) for _ in range(3)]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json()["event_ids"] == [message_id]
    assert count(database_url, "events") == 1
    stored = admin.get(f"/api/v1/events/{message_id}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["source_id"] == source.json()["id"]


def test_a_mapping_with_its_own_id_keeps_it(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    source = admin.post(
        "/api/v1/sources",
        json={
            "kind": "webhook",
            "name": "vendor",
            "verification": {"scheme": "standard_webhooks", "secret": WHSEC},
            "mapping": {"type": "type", "id": "data.key"},
        },
    )
    body = orjson.dumps({"type": "contact.created", "data": {"key": "k-1"}})
    headers = {"Content-Type": "application/json", **_standard("webhook")(body)}
    answer = httpx.post(source.json()["url"], content=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["event_ids"] == ["k-1"]


def test_hubspot_batches_take_each_items_event_id() -> None:
    mapping = build_mapping({"type": "subscriptionType", "items": "$"}).with_message_ids(
        MESSAGE_IDS["hubspot_v3"]
    )
    body = [
        {"eventId": 1001, "subscriptionType": "contact.creation"},
        {"eventId": 1002, "subscriptionType": "contact.deletion"},
    ]
    ingested = mapping.to_events(
        headers={},
        query={},
        body=body,
        source_id="src_1",
        received_at=datetime.now(UTC),
        new_id=lambda: "evt_generated",
    )
    assert [event.id for event in ingested.events] == ["1001", "1002"]
