"""Segment HTTP Tracking API compatibility: request bodies in, canonical events out.

The HTTP layer calls three functions in order, looking the source up in between::

    payload = decode_body("batch", raw, content_type=..., content_encoding=...)
    write_key = extract_write_key(request.headers.get("authorization"), payload)
    ingested = to_events("batch", payload, source_id=src.id, received_at=now, new_id=new_evt_id)

Rules follow Segment's documented HTTP API and what its SDKs send (analytics-python,
rudder-sdk-python, analytics.js): write key as Basic-auth username or ``writeKey`` in the
body, optional gzip, ``text/plain`` from the browser, batch-level ``context``/``integrations``
merged into each item, ``sentAt`` used to correct device clocks.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from renkei.events.envelope import (
    MAX_DEPTH,
    Event,
    IdFactory,
    Ingested,
    check_json_text,
    format_timestamp,
    is_canonical_timestamp,
    json_size,
    parse_timestamp,
)
from renkei.events.errors import (
    BadRequest,
    IngestError,
    InvalidEvent,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ENDPOINTS",
    "MESSAGE_TYPES",
    "Ingested",
    "Limits",
    "basic_auth_username",
    "body_write_key",
    "correct_timestamp",
    "decode_body",
    "example_message",
    "extract_write_key",
    "message_email",
    "to_events",
]

MESSAGE_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})

ENDPOINTS: Mapping[str, str] = {
    **{name: name for name in (*MESSAGE_TYPES, "batch")},
    # analytics.js posts to one-letter paths (/v1/t, /v1/p, ... and /b for batches).
    **{name[0]: name for name in MESSAGE_TYPES},
    "b": "batch",
    "import": "batch",
}
"""Path segment after ``/v1/`` → endpoint name understood by this module."""

# text/plain: browser beacons (analytics.js). Read as JSON too: no type, and the form type
# that @rudderstack/rudder-sdk-node 3.x sends with its gzipped JSON (axios's default).
_BODY_MEDIA_TYPES = frozenset({"application/json", "text/plain"})
_LENIENT_MEDIA_TYPES = frozenset({"", "application/x-www-form-urlencoded"})
_GZIP_CODINGS = frozenset({"gzip", "x-gzip"})
_OBJECT_FIELDS = ("properties", "traits", "context", "integrations")


@dataclass(frozen=True, slots=True)
class Limits:
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    max_batch_events: int = 2500
    max_message_id_length: int = 100

    def max_body_bytes(self, endpoint: str) -> int:
        return self.max_batch_bytes if endpoint == "batch" else self.max_event_bytes


DEFAULT_LIMITS = Limits()


def extract_write_key(authorization: str | None, body: Mapping[str, Any] | None) -> str:
    """The source's write key: the Basic-auth username (password empty), else ``writeKey``."""
    return basic_auth_username(authorization) or body_write_key(body)


def basic_auth_username(authorization: str | None) -> str | None:
    """The username of ``Basic`` credentials; None for another scheme or an empty username."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized(
            "Authorization header is not valid Basic credentials",
            code="invalid_authorization",
        ) from exc
    return decoded.partition(":")[0] or None


def body_write_key(body: Mapping[str, Any] | None) -> str:
    """``writeKey`` from the body: other schemes (Segment's OAuth bearer tokens) carry it there."""
    write_key = body.get("writeKey") if body is not None else None
    if isinstance(write_key, str) and write_key:
        return write_key
    items = body.get("batch") if body is not None else None
    if isinstance(items, list) and items and isinstance(items[0], dict):
        # analytics.js's batching posts the key in each event only (some versions)
        write_key = items[0].get("writeKey")
        if isinstance(write_key, str) and write_key:
            return write_key
    raise Unauthorized(
        "a write key is required: Basic auth username or writeKey in the body",
        code="missing_write_key",
    )


def decode_body(
    endpoint: str,
    body: bytes,
    *,
    content_type: str | None,
    content_encoding: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Check the media type, gunzip (bounded) and parse the JSON object of a request.

    A single message nested deeper than ``MAX_DEPTH`` or holding a NUL is refused here,
    where its text is at hand (a batch's items, in :func:`to_events`)."""
    _check_endpoint(endpoint)
    media_type = (content_type or "").partition(";")[0].strip().lower()
    lenient = media_type in _LENIENT_MEDIA_TYPES
    if not lenient and media_type not in _BODY_MEDIA_TYPES:
        raise UnsupportedMediaType(
            "Content-Type must be application/json (or text/plain)",
            details={"content_type": media_type or None},
        )
    max_bytes = limits.max_body_bytes(endpoint)
    if len(body) > max_bytes:
        raise _too_large(endpoint, max_bytes)
    coding = (content_encoding or "").strip().lower()
    if coding in _GZIP_CODINGS:
        body = _gunzip(body, max_bytes, endpoint)
    elif coding not in ("", "identity"):
        raise UnsupportedMediaType(
            "Content-Encoding must be gzip or identity",
            code="unsupported_encoding",
            details={"content_encoding": coding},
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if lenient and not body.lstrip().startswith((b"{", b"[")):
            raise UnsupportedMediaType(
                "the body must be JSON (form fields are not read)",
                details={"content_type": media_type or None},
            ) from exc
        raise BadRequest(
            f"body is not valid JSON: {exc.msg}",
            code="invalid_json",
            details={"line": exc.lineno, "column": exc.colno},
        ) from exc
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object", code="invalid_body")
    if endpoint != "batch":  # a batch's items are checked one by one (to_events)
        check_json_text(body, payload)  # nested deeper than MAX_DEPTH, or a NUL
    return payload


def to_events(
    endpoint: str,
    payload: Mapping[str, Any],
    *,
    source_id: str,
    received_at: datetime,
    new_id: IdFactory,
    limits: Limits = DEFAULT_LIMITS,
    partial: bool = False,
) -> Ingested:
    """Validate messages as Segment does and turn them into canonical events.

    A single-message endpoint raises on any rule broken. A batch raises on the first bad
    item too, unless ``partial`` is set: then good items become events and bad ones are
    returned in ``rejected`` (what Segment itself does, answering 200).
    """
    _check_endpoint(endpoint)
    if endpoint != "batch":
        normalizer = _Normalizer(source_id, received_at, new_id, limits, None, None, None)
        return Ingested([normalizer.event(payload, endpoint, None)])

    items = payload.get("batch")
    if not isinstance(items, list):
        raise BadRequest("batch must be an array", code="invalid_body", details={"field": "batch"})
    if len(items) > limits.max_batch_events:
        raise BadRequest(
            f"a batch holds at most {limits.max_batch_events} events",
            code="too_many_events",
            details={"count": len(items), "limit": limits.max_batch_events},
        )
    shared = _object(payload, "context", None), _object(payload, "integrations", None)
    for value in shared:
        if value:  # merged into each item, one level down
            json_size(value, max_depth=MAX_DEPTH - 1)
    raw_sent_at = payload.get("sentAt")
    sent_at = parse_timestamp(raw_sent_at)
    normalizer = _Normalizer(
        source_id,
        received_at,
        new_id,
        limits,
        sent_at,
        *shared,
    )
    if sent_at is None and raw_sent_at is not None:
        normalizer.invalid_sent_at = raw_sent_at
    ingested = Ingested([])
    for index, item in enumerate(items):
        try:
            ingested.events.append(normalizer.batch_item(item, index))
        except IngestError as exc:
            if not partial:
                raise
            ingested.rejected.append(exc)
    return ingested


def example_message(msg_type: str) -> dict[str, Any]:
    """A stored tracking event of ``msg_type`` as an endpoint receives it (a test send)."""
    message: dict[str, Any] = {
        "type": msg_type,
        "userId": "test-user",
        "messageId": "test-message",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "context": {"library": {"name": "renkei-test", "version": "1"}},
    }
    if msg_type == "track":
        message |= {"event": "Test Event", "properties": {"test": True}}
    elif msg_type in ("page", "screen"):
        message |= {"name": "Test", "properties": {"test": True}}
    elif msg_type == "identify":
        message["traits"] = {"email": "test@example.com"}
    elif msg_type == "group":
        message |= {"groupId": "test-group", "traits": {"name": "Test"}}
    elif msg_type == "alias":
        message["previousId"] = "test-anonymous-user"
    return message


def correct_timestamp(
    *,
    timestamp: datetime | None,
    original_timestamp: datetime | None,
    sent_at: datetime | None,
    received_at: datetime,
) -> datetime:
    """When the message happened.

    An explicit ``timestamp`` is kept (historical imports, trusted server clocks). Otherwise
    the device's ``originalTimestamp`` is shifted by the device's clock error, measured as
    ``sentAt`` against our ``receivedAt``: ``receivedAt - (sentAt - originalTimestamp)``.
    Without ``sentAt`` there is nothing to measure with; without either, it's ``receivedAt``.
    """
    if timestamp is not None:
        return timestamp
    if original_timestamp is None:
        return received_at
    if sent_at is None:
        return original_timestamp
    try:
        corrected = received_at - (sent_at - original_timestamp)
    except OverflowError:
        return received_at
    # An event can't have happened after we received it; that only means inconsistent clocks.
    return min(corrected, received_at)


class _Normalizer:
    """Turns messages of one request into events; holds what the request's messages share."""

    __slots__ = (
        "context",
        "integrations",
        "invalid_sent_at",
        "limits",
        "new_id",
        "received_at",
        "received_text",
        "sent_at",
        "sent_text",
        "source_id",
    )

    def __init__(
        self,
        source_id: str,
        received_at: datetime,
        new_id: IdFactory,
        limits: Limits,
        sent_at: datetime | None,
        context: dict[str, Any] | None,
        integrations: dict[str, Any] | None,
    ) -> None:
        self.source_id = source_id
        self.received_at = received_at.astimezone(UTC)
        self.received_text = format_timestamp(self.received_at)
        self.new_id = new_id
        self.limits = limits
        self.sent_at = sent_at
        self.sent_text = None if sent_at is None else format_timestamp(sent_at)
        self.context = context
        self.integrations = integrations
        self.invalid_sent_at: object = None  # the batch's sentAt, when it could not be read

    def batch_item(self, item: object, index: int) -> Event:
        if not isinstance(item, dict):
            raise _invalid("a batch item must be an object", "invalid_field", index, "batch")
        try:
            text = orjson.dumps(item)
        except orjson.JSONEncodeError:  # deeper than the serializer goes
            json_size(item, index=index)  # raises TooDeep
            raise
        check_json_text(text, item, index=index)  # nested deeper than MAX_DEPTH, or a NUL
        size = len(text)
        if size > self.limits.max_event_bytes:
            raise PayloadTooLarge(
                f"event {index} is larger than {self.limits.max_event_bytes} bytes",
                code="event_too_large",
                details={"index": index, "size": size, "limit": self.limits.max_event_bytes},
            )
        msg_type = item.get("type")
        if not isinstance(msg_type, str) or msg_type not in MESSAGE_TYPES:
            raise _invalid(
                f"type must be one of {', '.join(sorted(MESSAGE_TYPES))}",
                "invalid_type",
                index,
                "type",
            )
        return self.event(item, msg_type, index)

    def event(self, message: Mapping[str, Any], msg_type: str, index: int | None) -> Event:
        data = dict(message)
        data.pop("writeKey", None)
        for object_field in _OBJECT_FIELDS:
            _object(data, object_field, index)
        if self.context:
            data["context"] = {**self.context, **(data.get("context") or {})}
        if self.integrations:
            data["integrations"] = {**self.integrations, **(data.get("integrations") or {})}

        user_id = _identifier(data, "userId", index)
        anonymous_id = _identifier(data, "anonymousId", index)
        name: str | None = None
        if msg_type == "alias":
            _require(_identifier(data, "previousId", index), "previousId", index)
            _require(user_id, "userId", index)
        elif user_id is None and anonymous_id is None:
            raise _invalid("userId or anonymousId is required", "missing_identity", index, "userId")
        if msg_type == "track":
            name = _text(data, "event", index)
            _require(name, "event", index)
        elif msg_type == "group":
            _require(_identifier(data, "groupId", index), "groupId", index)
        elif msg_type in ("page", "screen"):
            name = _text(data, "name", index) or _page_name_property(data)

        data["type"] = msg_type
        data["messageId"] = event_id = self._message_id(data, index)
        return Event(
            id=event_id,
            type=msg_type,
            name=name,
            data=data,
            occurred_at=self._timestamps(data),
            received_at=self.received_at,
            source_id=self.source_id,
            user_id=user_id,
            anonymous_id=anonymous_id,
            email=message_email(data, msg_type),
        )

    def _message_id(self, data: dict[str, Any], index: int | None) -> str:
        given = _identifier(data, "messageId", index)
        if given is None:
            return self.new_id()
        if len(given) > self.limits.max_message_id_length:
            raise _invalid(
                f"messageId is longer than {self.limits.max_message_id_length} characters",
                "invalid_field",
                index,
                "messageId",
            )
        return given

    def _timestamps(self, data: dict[str, Any]) -> datetime:
        raw_timestamp = data.get("timestamp")
        raw_original = data.get("originalTimestamp")
        raw_sent_at = data.get("sentAt")
        timestamp, timestamp_text = _stamp(raw_timestamp)
        original, original_text = _stamp(raw_original)
        sent_at, sent_text = _stamp(raw_sent_at)
        if (
            (timestamp is None and raw_timestamp is not None)
            or (original is None and raw_original is not None)
            or (sent_at is None and (raw_sent_at is not None or self.invalid_sent_at is not None))
        ):
            self._keep_invalid(data, raw_timestamp, raw_original, raw_sent_at, sent_at)
        if original is None:
            original, original_text = timestamp, timestamp_text
            if timestamp is not None and _device_library(data):
                # analytics.js and the mobile libraries stamp `timestamp` with the device's
                # clock: it is the original timestamp, corrected below as Segment does.
                timestamp = None
        if sent_at is None:
            sent_at, sent_text = self.sent_at, self.sent_text
        occurred_at = correct_timestamp(
            timestamp=timestamp,
            original_timestamp=original,
            sent_at=sent_at,
            received_at=self.received_at,
        )
        data["timestamp"] = (
            timestamp_text if occurred_at is timestamp else format_timestamp(occurred_at)
        )
        data["receivedAt"] = self.received_text
        if original_text is not None:
            data["originalTimestamp"] = original_text
        if sent_text is not None:
            data["sentAt"] = sent_text
        return occurred_at

    def _keep_invalid(
        self,
        data: dict[str, Any],
        raw_timestamp: object,
        raw_original: object,
        raw_sent_at: object,
        sent_at: datetime | None,
    ) -> None:
        """Keep the timestamps that could not be read as the sender wrote them, in
        ``context.invalid_timestamps``: the event's own fields get Renkei's values."""
        invalid: dict[str, object] = {}
        for name, raw in (("timestamp", raw_timestamp), ("originalTimestamp", raw_original)):
            if raw is not None and parse_timestamp(raw) is None:
                invalid[name] = raw
        if sent_at is None:
            if raw_sent_at is not None:
                invalid["sentAt"] = raw_sent_at
            elif self.invalid_sent_at is not None and self.sent_at is None:
                invalid["sentAt"] = self.invalid_sent_at
        if invalid:
            data["context"] = {**(data.get("context") or {}), "invalid_timestamps": invalid}


_DEVICE_LIBRARIES = frozenset(
    {
        "analytics.js",
        "analytics-ios",
        "analytics-android",
        "analytics-swift",
        "analytics-kotlin",
        "analytics-react-native",
        "@segment/analytics-react-native",
        "analytics-flutter",
    }
)
"""Segment's client-side libraries: their ``timestamp`` is the device's clock."""


def _device_library(data: Mapping[str, Any]) -> bool:
    context = data.get("context")
    library = context.get("library") if isinstance(context, dict) else None
    name = library.get("name") if isinstance(library, dict) else None
    return isinstance(name, str) and name in _DEVICE_LIBRARIES


def _stamp(value: object) -> tuple[datetime | None, str | None]:
    """A timestamp and its canonical text (the client's own when already canonical)."""
    if value is None:
        return None, None
    when = parse_timestamp(value)
    if when is None:
        return None, None
    if isinstance(value, str) and is_canonical_timestamp(value):
        return when, value
    return when, format_timestamp(when)


def _check_endpoint(endpoint: str) -> None:
    if endpoint != "batch" and endpoint not in MESSAGE_TYPES:
        raise ValueError(f"unknown Segment endpoint {endpoint!r}; map paths with ENDPOINTS")


def _too_large(endpoint: str, limit: int) -> PayloadTooLarge:
    what = "a batch request" if endpoint == "batch" else "an event"
    return PayloadTooLarge(f"{what} may not exceed {limit} bytes", details={"limit": limit})


def _gunzip(body: bytes, max_bytes: int, endpoint: str) -> bytes:
    """Inflate gzip, refusing to produce more than ``max_bytes`` (gzip bombs stop here)."""
    out = bytearray()
    remaining = body
    while remaining:  # a gzip file may hold several members
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(remaining, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise BadRequest("body is not valid gzip", code="invalid_gzip") from exc
        if len(out) > max_bytes:
            raise _too_large(endpoint, max_bytes)
        if not inflater.eof:
            raise BadRequest("gzip body is truncated", code="invalid_gzip")
        remaining = inflater.unused_data
    return bytes(out)


def _invalid(message: str, code: str, index: int | None, field_name: str) -> InvalidEvent:
    details: dict[str, Any] = {"field": field_name}
    if index is not None:
        details["index"] = index
    return InvalidEvent(message, code=code, details=details)


def _require(value: str | None, field_name: str, index: int | None) -> None:
    if value is None:
        raise _invalid(f"{field_name} is required", "missing_field", index, field_name)


def _object(data: Mapping[str, Any], name: str, index: int | None) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None or isinstance(value, dict):
        return value
    raise _invalid(f"{name} must be an object", "invalid_field", index, name)


def _identifier(data: dict[str, Any], name: str, index: int | None) -> str | None:
    """A string or integer id (SDKs accept both), normalized to a string; blank is absent."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        data[name] = text = str(value)
        return text
    raise _invalid(f"{name} must be a string", "invalid_field", index, name)


def _text(data: Mapping[str, Any], name: str, index: int | None) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        return value
    raise _invalid(f"{name} must be a string", "invalid_field", index, name)


def _page_name_property(data: Mapping[str, Any]) -> str | None:
    # analytics.js also puts the page name in properties.name.
    properties = data.get("properties")
    name = properties.get("name") if isinstance(properties, dict) else None
    return name if isinstance(name, str) and name.strip() else None


def message_email(data: Mapping[str, Any], msg_type: str) -> str | None:
    """The person's email a message carries (traits, context traits, properties)."""
    places: tuple[str, ...] = ("traits", "context", "properties")
    if msg_type == "group":  # a group's traits describe the group, not the person
        places = ("context",)
    for place in places:
        holder = data.get(place)
        if place == "context" and isinstance(holder, dict):
            holder = holder.get("traits")
        if isinstance(holder, dict):
            email = holder.get("email")
            if isinstance(email, str) and email.strip():
                return email.strip()
    return None
