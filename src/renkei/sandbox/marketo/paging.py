"""Paging tokens (Paging Tokens page): date-based tokens mark a point in the activity log,
position-based tokens mark an offset in a lead result set. Both are opaque base32 text,
padding included, which is why clients must URL-encode them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class LogPosition:
    """Activities strictly after (``millis``, ``activity_id``) in log order."""

    millis: int
    activity_id: int


def activity_token(position: LogPosition) -> str:
    return _encode(f"A{position.millis}.{position.activity_id}")


def parse_activity_token(token: str) -> LogPosition | None:
    decoded = _decode(token)
    if decoded is None or not decoded.startswith("A"):
        return None
    millis, _, activity_id = decoded[1:].partition(".")
    try:
        return LogPosition(int(millis), int(activity_id))
    except ValueError:
        return None


def lead_token(query_key: str, offset: int) -> str:
    return _encode(f"L{offset}.{query_key}")


def parse_lead_token(token: str, query_key: str) -> int | None:
    """The offset of a token issued for the same query, else None."""
    decoded = _decode(token)
    if decoded is None or not decoded.startswith("L"):
        return None
    offset, _, key = decoded[1:].partition(".")
    if key != query_key or not offset.isdigit():
        return None
    return int(offset)


def _encode(text: str) -> str:
    return base64.b32encode(text.encode()).decode()


def _decode(token: str) -> str | None:
    try:
        padded = token + "=" * (-len(token) % 8)
        return base64.b32decode(padded.upper()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
