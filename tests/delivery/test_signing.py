from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from renkei.delivery import (
    InvalidSecret,
    SignatureInvalid,
    build_headers,
    generate_secret,
    serialize_payload,
    sign,
    validate_secret,
    verify,
)

BODY = serialize_payload(
    "receipt.receipt_validated",
    datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    {"receipt_id": "r_1", "amount": 12.5, "note": "日本語"},
)


def test_generated_secrets_are_whsec_base64_of_24_to_64_bytes() -> None:
    for nbytes in (24, 32, 64):
        secret = generate_secret(nbytes)
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == nbytes
        validate_secret(secret)
    assert generate_secret() != generate_secret()
    with pytest.raises(ValueError):
        generate_secret(16)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "sk_" + base64.b64encode(bytes(32)).decode(),
        "whsec_not base64!",
        "whsec_" + base64.b64encode(bytes(16)).decode(),
        "whsec_" + base64.b64encode(bytes(65)).decode(),
    ],
)
def test_malformed_secrets_are_refused_without_echoing_them(secret: str) -> None:
    with pytest.raises(InvalidSecret) as caught:
        validate_secret(secret)
    assert not secret or secret not in str(caught.value)


def test_payload_is_the_canonical_body_with_an_rfc3339_utc_timestamp() -> None:
    assert orjson.loads(BODY) == {
        "type": "receipt.receipt_validated",
        "timestamp": "2026-01-02T03:04:05.678000Z",
        "data": {"receipt_id": "r_1", "amount": 12.5, "note": "日本語"},
    }
    tokyo = datetime(2026, 1, 2, 12, 0, tzinfo=timezone(timedelta(hours=9)))
    assert orjson.loads(serialize_payload("t", tokyo, {}))["timestamp"] == "2026-01-02T03:00:00Z"
    with pytest.raises(ValueError):
        serialize_payload("t", datetime(2026, 1, 1), {})


def test_standardwebhooks_library_verifies_our_signature() -> None:
    secret = generate_secret()
    headers = build_headers("evt_1", int(time.time()), BODY, [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers)["data"]["receipt_id"] == "r_1"


def test_during_a_rotation_every_valid_key_signs_and_each_one_verifies() -> None:
    current, previous, older = generate_secret(), generate_secret(24), generate_secret(64)
    headers = build_headers("evt_2", int(time.time()), BODY, [current, previous, older])
    assert len(headers["webhook-signature"].split(" ")) == 3
    for secret in (current, previous, older):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_signature_covers_id_timestamp_and_body() -> None:
    secret = generate_secret()
    now = int(time.time())
    headers = build_headers("evt_3", now, BODY, [secret])
    for changed in (
        {**headers, "webhook-id": "evt_other"},
        {**headers, "webhook-timestamp": str(now - 1)},
    ):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(BODY, changed)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)


def test_sign_needs_at_least_one_secret() -> None:
    with pytest.raises(InvalidSecret):
        sign("evt", 1, BODY, [])


def test_verify_accepts_the_library_signature_within_five_minutes() -> None:
    secret = generate_secret()
    sent_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    signature = Webhook(secret).sign("evt_4", sent_at, BODY.decode())
    headers = {
        "Webhook-Id": "evt_4",
        "Webhook-Timestamp": str(int(sent_at.timestamp())),
        "Webhook-Signature": f"v1,bm90IGl0 {signature}",
    }
    verify(BODY, headers, [generate_secret(), secret], now=sent_at + timedelta(minutes=4))
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify(BODY, headers, [secret], now=sent_at + timedelta(minutes=6))
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify(BODY, headers, [secret], now=sent_at - timedelta(minutes=6))


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-signature": "v2,abc"},
        {"webhook-timestamp": "soon"},
        {"webhook-id": ""},
    ],
)
def test_verify_refuses_bad_headers(change: dict[str, str]) -> None:
    secret = generate_secret()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    headers = build_headers("evt_5", int(now.timestamp()), BODY, [secret]) | change
    with pytest.raises(SignatureInvalid):
        verify(BODY, headers, [secret], now=now)


def test_verify_refuses_a_tampered_body() -> None:
    secret = generate_secret()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    headers = build_headers("evt_6", int(now.timestamp()), BODY, [secret])
    verify(BODY, headers, [secret], now=now)
    with pytest.raises(SignatureInvalid, match="no matching signature"):
        verify(BODY.replace(b"12.5", b"99.5"), headers, [secret], now=now)
