"""The canonical event, and the time helpers every ingest path shares."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from renkei.events.errors import IngestError, NotStorableText, TooDeep

MAX_DEPTH = 64
"""How deeply an event's JSON may nest objects and arrays (the event itself is level 1).

Checked wherever events come in (tracking API, inbound hooks, publishing), so that what is
accepted can always be written and delivered: the serializer stops at 254 levels, and
deliveries, flows and profiles wrap an event's data in a few levels of their own.
"""

_SERIALIZER_DEPTH = 254
"""orjson.dumps writes this many levels of objects and arrays, and refuses one more."""


class _Wrappers(threading.local):
    """Per thread and depth limit: ``(outer, inner)``, ``inner`` being a one-item list
    nested ``_SERIALIZER_DEPTH - max_depth`` lists deep in ``outer``."""

    def __init__(self) -> None:
        self.by_depth: dict[int, tuple[list[Any], list[Any]]] = {}


_wrappers = _Wrappers()


def json_size(value: Any, *, max_depth: int = MAX_DEPTH, index: int | None = None) -> int:
    """The size of ``value`` as compact JSON, once it is known to be storable: refuses with
    :class:`TooDeep` a value nested deeper than ``max_depth`` (``value`` itself being level
    1) and with :class:`NotStorableText` a string (or key) holding a NUL character.

    No walk in Python. Most values are serialized once: a text with at most ``max_depth``
    opening brackets cannot nest deeper. Only the others are serialized (again) at the
    bottom of a fixed stack of one-item lists, so the serializer's own depth limit trips
    exactly when ``value`` is too deep: the stack costs ten times the usual value's
    serialization, which every published and tracked event paid before. A NUL is found
    as ``\\u0000`` in the output. ``index`` goes into the error's details (a batch item).
    """
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass  # too deep for the serializer, or not JSON: the exact path below says which
    else:
        if text.count(b"{") + text.count(b"[") <= max_depth:
            _check_nul(text, index)
            return len(text)
    wrapper = _wrappers.by_depth.get(max_depth)
    if wrapper is None:
        inner: list[Any] = [None]
        outer = inner
        for _ in range(_SERIALIZER_DEPTH - max_depth - 1):
            outer = [outer]
        _wrappers.by_depth[max_depth] = wrapper = (outer, inner)
    outer, inner = wrapper
    inner[0] = value
    try:
        text = orjson.dumps(outer)
    except orjson.JSONEncodeError as exc:
        if "recursion" not in str(exc).lower():
            raise
        details: dict[str, Any] = {"max_depth": max_depth}
        if index is not None:
            details["index"] = index
        raise TooDeep(
            f"objects and arrays may nest at most {max_depth} levels deep", details=details
        ) from None
    finally:
        inner[0] = None
    _check_nul(text, index)
    return len(text) - 2 * (_SERIALIZER_DEPTH - max_depth)


def _check_nul(text: bytes, index: int | None) -> None:
    if b"\\u0000" in text and _has_nul(text):
        raise NotStorableText(
            "strings may not contain NUL (\\u0000)",
            details=None if index is None else {"index": index},
        )


def check_json_text(
    text: bytes, value: Any, *, max_depth: int = MAX_DEPTH, index: int | None = None
) -> None:
    """:func:`json_size`'s refusals for ``value`` whose JSON text (as sent, or serialized)
    is ``text``, at the cost of a byte count for the usual value: a value cannot nest deeper
    than it has opening brackets, so only one with more than ``max_depth`` of them (some may
    be inside strings) is measured exactly."""
    if text.count(b"{") + text.count(b"[") > max_depth:
        json_size(value, max_depth=max_depth, index=index)
    elif b"\\u0000" in text and _has_nul(text):
        raise NotStorableText(
            "strings may not contain NUL (\\u0000)",
            details=None if index is None else {"index": index},
        )


def _has_nul(text: bytes) -> bool:
    """Whether JSON text holds an escaped NUL (``\\u0000`` after an odd run of backslashes:
    an even run is an escaped backslash followed by the letters)."""
    at = text.find(b"\\u0000")
    while at != -1:
        start = at
        while start > 0 and text[start - 1] == 0x5C:  # backslash
            start -= 1
        if (at - start) % 2 == 0:
            return True
        at = text.find(b"\\u0000", at + 1)
    return False


IdFactory = Callable[[], str]
"""Makes a fresh event id (the caller supplies opaque, sortable ``evt_...`` ids)."""


@dataclass(slots=True)
class Event:
    id: str
    """Dedupe key: the id the client sent (Segment ``messageId``, a webhook id), else generated."""
    type: str
    """``identify|track|page|screen|group|alias``, or a webhook/published type."""
    name: str | None
    """Track event name, or page/screen name."""
    data: dict[str, Any]
    """The whole normalized message (properties, traits, context, integrations...)."""
    occurred_at: datetime
    received_at: datetime
    source_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    email: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a document: the one every filter (an endpoint's, a flow's), an
        ordering key and a flow's steps read."""
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "data": self.data,
            "occurred_at": format_timestamp(self.occurred_at),
            "received_at": format_timestamp(self.received_at),
            "source_id": self.source_id,
            "user_id": self.user_id,
            "anonymous_id": self.anonymous_id,
            "email": self.email,
        }


@dataclass(slots=True)
class Ingested:
    """What one request produced."""

    events: list[Event]
    rejected: list[IngestError] = field(default_factory=list)
    """Items refused with ``partial=True``; each error's details carry the item's index."""


def is_canonical_timestamp(text: str) -> bool:
    """Whether a string that parses as a timestamp is already as ``format_timestamp``
    writes it (``2024-05-01T10:00:00.000Z``), so it can be kept as it is."""
    return len(text) == 24 and text[23] == "Z" and text[19] == "." and text[10] == "T"


def format_timestamp(when: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as Segment writes them: ``2024-05-01T10:00:00.000Z``."""
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Past this many "seconds" (year 5138) a number is far likelier to be milliseconds.
_MILLISECONDS_FROM = 100_000_000_000
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# Segment's own docs show "2015-2-02T00:30:08.276Z": unpadded fields that fromisoformat refuses.
_LOOSE_ISO = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?(.*)", re.DOTALL
)


def parse_timestamp(value: object) -> datetime | None:
    """Read a timestamp the way clients actually send them, or ``None`` if it isn't one.

    Accepts ISO 8601 (with or without zone, ``Z``, any fraction, unpadded fields), unix
    seconds or milliseconds (numbers or numeric strings) and HTTP dates (RFC 7231/2822).
    A time without a zone is taken as UTC. The result is aware and in UTC.
    """
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return _from_epoch(float(value))
        if not isinstance(value, str):
            return None
        parsed = _plain_iso(value)
        if parsed is not None:
            return parsed
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return _from_epoch(float(text))
        parsed = _iso(text) or _http_date(text)
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _plain_iso(value: str) -> datetime | None:
    """The usual case, tried before anything else: an ISO 8601 string Python reads."""
    if len(value) < 10 or value[4] != "-":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _from_epoch(number: float) -> datetime:
    if abs(number) >= _MILLISECONDS_FROM:
        number /= 1000
    return datetime.fromtimestamp(number, UTC)


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    loose = _LOOSE_ISO.fullmatch(text)
    if loose is None:
        return None
    year, month, day, hour, minute, second, rest = loose.groups()
    padded = f"{year}-{int(month):02}-{int(day):02}"
    if hour is not None:
        padded += f"T{int(hour):02}:{int(minute):02}:{int(second or 0):02}"
    try:
        return datetime.fromisoformat(padded + rest)
    except ValueError:
        return None


def _http_date(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
