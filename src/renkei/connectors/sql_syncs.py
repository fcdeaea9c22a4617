"""What syncs read from a database through the ``sql`` connector (see
``connectors/sync_objects.py``).

Both objects run the sync's ``query`` (one SELECT) a page at a time, in ``(cursor_column,
id_column)`` order, after the last row of the previous page — keyset paging with the id as
tie-breaker, so rows sharing a cursor value are neither lost nor read twice at a page
boundary, and a later run reads only rows whose cursor moved past the checkpoint (an
updated row must move its cursor, e.g. ``updated_at``). The position is the sync's cursor,
stored with each page, its values typed (a timestamp stays a timestamp).

- pull ``rows`` (profiles): ``email_column`` (default ``email``) and ``identities``
  (``{"user_id": "customer_id"}``: identity kind → column) find the person; the row's id is
  attached as ``sql_row_id`` (scoped by connection); the other columns become traits (or
  what ``mapping`` makes of them), as of the cursor when it is a timestamp;
- pull ``events``: each row an event of type ``event_type`` (or the row's ``type_column``),
  named by ``name_column``, at ``timestamp_column`` (default: the cursor), for the person of
  ``email_column`` / ``user_id_column``; its id derives from the type and the row's id, so
  a row read again is not recorded twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from renkei.connectors.sync_objects import (
    Page,
    PulledEvent,
    PullEvents,
    PullProfiles,
    SyncCall,
    SyncObject,
)
from renkei.events.envelope import parse_timestamp
from renkei.store.external import ExternalDatabaseError, single_select

__all__ = ["MAX_PAGE", "ROW_ID", "SQL_SYNC_OBJECTS"]

ROW_ID = "sql_row_id"
MAX_PAGE = 5000
DEFAULT_PAGE = 500
_MODIFIED = "sql_modified"
_IDENTITY_KINDS = ("user_id", "anonymous_id", "phone", "external_id")


def config_problem(config: Mapping[str, Any]) -> str | None:
    """Why a sql sync's config cannot run (checked when the sync is saved), or None."""
    for key in ("query", "cursor_column"):
        if not isinstance(config.get(key), str) or not str(config[key]).strip():
            return f"config.{key} is required (a string)"
    page = config.get("page_size", DEFAULT_PAGE)
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_PAGE:
        return f"config.page_size must be an integer from 1 to {MAX_PAGE}"
    identities = config.get("identities") or {}
    if not isinstance(identities, dict) or not all(
        isinstance(v, str) and v for v in identities.values()
    ):
        return "config.identities maps identity kinds to column names"
    unknown = sorted(set(identities) - set(_IDENTITY_KINDS))
    if unknown:
        return f"config.identities: unknown kind(s) {', '.join(unknown)}"
    try:
        single_select(str(config["query"]))
    except ExternalDatabaseError as exc:
        return f"config.query: {exc.message}"
    return None


def encode(value: Any) -> dict[str, Any]:
    """A cursor value as JSON that :func:`decode` turns back into the same type."""
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bool | int | float | str):
        return {"type": type(value).__name__, "value": value}
    return {"type": "str", "value": str(value)}


def decode(encoded: Mapping[str, Any]) -> Any:
    kind, value = encoded.get("type"), encoded.get("value")
    if kind == "datetime":
        return datetime.fromisoformat(str(value))
    if kind == "date":
        return date.fromisoformat(str(value))
    if kind == "decimal":
        return Decimal(str(value))
    return value


def plain(value: Any) -> Any:
    """A column value as JSON (numbers stay numbers, times ISO 8601, bytes left out)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


async def read_page(call: SyncCall, config: Mapping[str, Any], cursor: Mapping[str, Any]) -> Page:
    cursor_column = str(config["cursor_column"])
    id_column = str(config.get("id_column") or "id")
    limit = int(config.get("page_size") or DEFAULT_PAGE)
    after = None
    if cursor.get("cursor") is not None:
        after = [decode(cursor["cursor"]), decode(cursor["id"])]
    result = await call(
        "read_rows",
        {
            "query": str(config["query"]),
            "cursor_column": cursor_column,
            "id_column": id_column,
            "after": after,
            "limit": limit,
        },
    )
    rows: list[dict[str, Any]] = list((result.data or {}).get("rows") or [])
    if not rows:
        return Page([], dict(cursor), False)
    last = rows[-1]
    position = {"cursor": encode(last[cursor_column]), "id": encode(last[id_column])}
    records = [_record(row, config, cursor_column, id_column) for row in rows]
    return Page(records, position, len(rows) == limit)


def _record(
    row: Mapping[str, Any], config: Mapping[str, Any], cursor_column: str, id_column: str
) -> dict[str, Any]:
    record = {str(k): plain(v) for k, v in row.items()}
    email = row.get(str(config.get("email_column") or "email"))
    stamp = row.get(cursor_column)
    record |= {
        "id": plain(row.get(id_column)),
        "email": email if isinstance(email, str) else None,
        # Values count as of the cursor when it is a time (some databases keep times as text).
        _MODIFIED: plain(stamp) if parse_timestamp(plain(stamp)) is not None else None,
    }
    return record


def row_identities(record: Mapping[str, Any], config: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    for kind, column in (config.get("identities") or {}).items():
        value = record.get(str(column))
        if value is not None and str(value) != "":
            found.append((str(kind), str(value)))
    return found


def row_event(record: Mapping[str, Any], config: Mapping[str, Any]) -> PulledEvent:
    type_column = config.get("type_column")
    event_type = str(
        (record.get(str(type_column)) if type_column else None)
        or config.get("event_type")
        or "sql.row"
    )
    name_column = config.get("name_column")
    name = record.get(str(name_column)) if name_column else None
    at_column = str(config.get("timestamp_column") or config["cursor_column"])
    user_column = config.get("user_id_column")
    user_id = record.get(str(user_column)) if user_column else None
    digest = hashlib.sha256(f"{event_type}\x00{record.get('id')}".encode()).hexdigest()[:32]
    data = {k: v for k, v in record.items() if k != _MODIFIED}
    return PulledEvent(
        id=f"sql_{digest}",
        type=event_type,
        name=None if name is None else str(name),
        data=data,
        occurred_at=parse_timestamp(record.get(at_column)),
        user_id=None if user_id is None else str(user_id),
        email=record.get("email") if isinstance(record.get("email"), str) else None,
    )


SQL_SYNC_OBJECTS: tuple[SyncObject, ...] = (
    PullProfiles(
        "rows",
        read=read_page,
        identity=ROW_ID,
        modified=_MODIFIED,
        identities=row_identities,
        check=config_problem,
    ),
    PullEvents("events", read=read_page, event=row_event, check=config_problem),
)
