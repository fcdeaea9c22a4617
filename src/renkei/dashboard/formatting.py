"""How the log pages show stored values: JSON indented for people (escaped by the template
like any text, so a payload holding ``<script>`` is shown, never run) and RFC 3339 strings
as the datetimes ``time(...)`` draws."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def pretty(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def compact(value: Any) -> str:
    """JSON on one line (a table cell)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def moment(value: Any) -> datetime | None:
    """A datetime, or an RFC 3339 string as one (``None`` and junk: ``None``)."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


FORMATS = {"pretty": pretty, "compact": compact, "moment": moment}
