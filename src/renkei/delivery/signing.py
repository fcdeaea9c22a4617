"""Standard Webhooks 1.0: secrets, the canonical body, signatures and headers.

A secret is ``whsec_`` + base64 of 24-64 random bytes. The signature of one attempt is
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per key, space-separated:
during a rotation the current key and the still-valid old keys all sign, so receivers
holding either secret verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from renkei.delivery.errors import InvalidSecret, SignatureInvalid

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
DEFAULT_TOLERANCE = timedelta(minutes=5)


def generate_secret(nbytes: int = 32) -> str:
    """A new signing secret: ``whsec_`` + base64 of ``nbytes`` random bytes."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise ValueError(f"a secret has {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(nbytes)).decode()


def secret_key(secret: str) -> bytes:
    """The raw HMAC key of ``secret``; :class:`InvalidSecret` if it is malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"a signing secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise InvalidSecret("a signing secret is base64 after its prefix") from exc
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidSecret(
            f"a signing secret decodes to {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes"
        )
    return key


def validate_secret(secret: str) -> None:
    """Raise :class:`InvalidSecret` unless ``secret`` is a well-formed signing secret."""
    secret_key(secret)


def is_valid_secret(secret: str) -> bool:
    try:
        secret_key(secret)
    except InvalidSecret:
        return False
    return True


def serialize_payload(type: str, timestamp: datetime, data: Any) -> bytes:
    """The canonical body ``{"type", "timestamp" (RFC 3339, UTC), "data"}`` as bytes."""
    if timestamp.tzinfo is None:
        raise ValueError("the payload timestamp must be timezone-aware")
    body = {"type": type, "timestamp": timestamp.astimezone(UTC), "data": data}
    return orjson.dumps(body, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


def sign(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: one ``v1,<sig>`` per secret, space-separated."""
    if not secrets:
        raise InvalidSecret("at least one signing secret is needed")
    return " ".join(f"v1,{_signature(secret_key(s), msg_id, timestamp, body)}" for s in secrets)


def build_headers(
    msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(msg_id, timestamp, body, secrets),
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> None:
    """Check an inbound Standard Webhooks request; :class:`SignatureInvalid` if it fails.

    Passes when any ``v1`` signature matches any of ``secrets`` and the timestamp is within
    ``tolerance`` of ``now`` (take ``now`` from a :class:`renkei.clock.Clock`).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise SignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise SignatureInvalid("webhook-timestamp is not unix seconds") from exc
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        raise SignatureInvalid("webhook-timestamp is outside the tolerance window")
    offered = [
        sig.encode()
        for version, _, sig in (s.partition(",") for s in signatures.split())
        if version == "v1"
    ]
    for secret in secrets:
        expected = _signature(secret_key(secret), msg_id, timestamp, body).encode()
        # Compare against every offered signature so timing does not reveal which matched.
        if sum(hmac.compare_digest(expected, sig) for sig in offered):
            return
    raise SignatureInvalid("no matching signature")


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
