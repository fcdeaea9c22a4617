"""Reading query parameters and JSON bodies the way Marketo does.

List parameters are comma-separated and may also be repeated (``collectionFormat:
multi`` in the spec), so ``a=1,2&a=3`` is ``["1", "2", "3"]``.
"""

from __future__ import annotations

import json
from typing import Any

from renkei.sandbox._common import Call, content_type
from renkei.sandbox.marketo.errors import MarketoError, blank, invalid_value


def text(call: Call, name: str) -> str | None:
    value = call.query.get(name)
    return value if value not in (None, "") else None


def required_text(call: Call, name: str) -> str:
    value = text(call, name)
    if value is None:
        raise blank(name)
    return value


def values(call: Call, name: str) -> list[str]:
    items: list[str] = []
    for raw in call.query.getlist(name):
        items.extend(part.strip() for part in raw.split(","))
    return [item for item in items if item]


def integers(call: Call, name: str) -> list[int]:
    parsed: list[int] = []
    for item in values(call, name):
        try:
            parsed.append(int(item))
        except ValueError:
            raise invalid_value(item, "Integer") from None
    return parsed


def batch_size(call: Call, maximum: int) -> int:
    """``batchSize``, defaulting to ``maximum``; a caller checks the upper bound."""
    raw = text(call, "batchSize")
    if raw is None:
        return maximum
    try:
        size = int(raw)
    except ValueError:
        raise invalid_value(raw, "Integer") from None
    if size < 1:
        raise MarketoError("1003", f"Invalid batchSize '{raw}'")
    return size


def json_body(call: Call) -> dict[str, Any]:
    if content_type(call) != "application/json":
        raise MarketoError("612")
    try:
        body = json.loads(call.body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MarketoError("609") from None
    if not isinstance(body, dict):
        raise MarketoError("609")
    return body
