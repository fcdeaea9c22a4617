"""The Standard Webhooks wire format as the delivery services use it: a thin seam over
:mod:`renkei.delivery.signing`, so the services read the same however it is spelled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from renkei.delivery import signing
from renkei.delivery.errors import InvalidSecret

__all__ = ["generate_secret", "is_valid_secret", "serialize_payload", "webhook_headers"]


def generate_secret() -> str:
    return signing.generate_secret()


def is_valid_secret(secret: str) -> bool:
    try:
        signing.validate_secret(secret)
    except InvalidSecret:
        return False
    return True


def serialize_payload(event_type: str, timestamp: datetime, data: Any) -> bytes:
    return signing.serialize_payload(event_type, timestamp, data)


def webhook_headers(
    message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and one ``v1,`` signature per valid secret."""
    return signing.build_headers(message_id, timestamp, body, secrets)
