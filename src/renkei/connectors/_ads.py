"""What the ad-platform connectors (Google Ads, Meta, LinkedIn) share: turning the times
flows carry (ISO 8601 strings, Unix seconds or milliseconds) into each vendor's format,
and reading a JSON error body without trusting its shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = ["as_datetime", "error_object", "google_datetime", "unix_ms", "unix_seconds"]

# Above this, a number is milliseconds (10^11 seconds is the year 5138).
_MS_THRESHOLD = 100_000_000_000


def as_datetime(value: Any) -> datetime:
    """An aware datetime from ISO 8601 text, Unix seconds or Unix milliseconds; a time
    without an offset is UTC. Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _MS_THRESHOLD else value
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected an ISO 8601 time or a Unix timestamp")
    text = value.strip()
    if text.isdigit():
        return as_datetime(int(text))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def unix_seconds(value: Any) -> int:
    return int(as_datetime(value).timestamp())


def unix_ms(value: Any) -> int:
    moment = as_datetime(value)
    return int(moment.timestamp() * 1000)


def google_datetime(value: Any) -> str:
    """Google Ads' ``yyyy-mm-dd hh:mm:ss+|-hh:mm``; a value already in it is kept."""
    moment = as_datetime(value)
    offset = moment.strftime("%z")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + f"{offset[:3]}:{offset[3:]}"


def error_object(response: httpx.Response) -> dict[str, Any]:
    """The body's ``error`` object (Google, Meta) or the body itself; {} when not JSON."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    error = body.get("error")
    return error if isinstance(error, dict) else body
