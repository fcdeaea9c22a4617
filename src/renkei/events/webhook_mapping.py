"""Turning a vendor's inbound webhook into canonical events, driven by a small config.

A config names where each event field comes from: ``{"header": ...}``, ``{"query": ...}``,
``{"path": ...}`` (dot-separated, list indexes allowed, ``$`` is the whole body; a bare
string is a path) or ``{"value": ...}``. With ``items`` the body holds an array of events
and paths are read inside each item. For example, Mailchimp (form-encoded)::

    {"type": "type", "type_prefix": "mailchimp.", "email": "data.email",
     "occurred_at": "fired_at"}

and Klaviyo (several events per request)::

    {"items": "data", "type": "topic", "id": "external_id", "occurred_at": "payload.time"}

Ids read from the request rather than the item (a header, a query parameter) are suffixed
with ``:<item index>`` when ``items`` is set, so every event keeps a distinct, stable
dedupe key across the vendor's retries.

Without ``id``, the id comes from the verification scheme's message id when the request
carries one (:meth:`WebhookMapping.with_message_ids`), else a new one is generated.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from renkei.events.envelope import Event, IdFactory, Ingested, parse_timestamp
from renkei.events.errors import (
    BadRequest,
    ConfigError,
    IngestError,
    InvalidEvent,
    PayloadTooLarge,
)

__all__ = ["FieldSource", "WebhookMapping", "build_mapping", "parse_body"]

_MAX_ID_LENGTH = 255
_BRACKET = re.compile(r"\[([^\]]*)\]")
_PATH_SEGMENT = re.compile(r"[^.]+")


class FieldSource(BaseModel):
    """Where one value comes from: exactly one of header, query, path or value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    header: str | None = Field(default=None, min_length=1)
    query: str | None = Field(default=None, min_length=1)
    path: str | None = Field(default=None, min_length=1)
    value: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _path_shorthand(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in ("header", "query", "path", "value") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("set exactly one of header, query, path or value")
        if self.path is not None:
            _segments(self.path)
        return self

    @property
    def per_request(self) -> bool:
        """Whether the value is the same for every item of a request."""
        return self.path is None


class WebhookMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: FieldSource
    type_prefix: str = Field(default="", description='e.g. "mailchimp." before the type found')
    id: FieldSource | None = None
    name: FieldSource | None = None
    user_id: FieldSource | None = None
    anonymous_id: FieldSource | None = None
    email: FieldSource | None = None
    occurred_at: FieldSource | None = None
    items: str | None = Field(default=None, min_length=1, description="path of an event array")
    max_items: int = Field(default=1000, gt=0)
    _message_ids: tuple[FieldSource, ...] = PrivateAttr(default=())

    def with_message_ids(self, sources: tuple[FieldSource, ...]) -> WebhookMapping:
        """This mapping, taking the event id (when it names none) from the first of
        ``sources`` the request has: the verification scheme's message id (``webhook-id``,
        Stripe's event id ...), the same on every retry, so a replay is stored once."""
        mapping = self.model_copy()
        mapping._message_ids = sources if self.id is None else ()
        return mapping

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.id is not None and self.id.value is not None:
            raise ValueError("id can't be a fixed value: every event would share one dedupe key")
        if self.items is not None:
            _segments(self.items)
        return self

    def to_events(
        self,
        *,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: Any,
        source_id: str,
        received_at: datetime,
        new_id: IdFactory,
        partial: bool = False,
    ) -> Ingested:
        """Events from one request; ``body`` is what :func:`parse_body` returned.

        Raises on the first item that breaks a rule, unless ``partial``: then good items
        become events and bad ones are returned in ``rejected``.
        """
        request = _Request(
            headers={key.lower(): value for key, value in headers.items()},
            query=query,
            source_id=source_id,
            received_at=received_at.astimezone(UTC),
            new_id=new_id,
        )
        if self.items is None:
            items, indexed = [body], False
        else:
            items, indexed = _lookup(body, _segments(self.items)), True
            if not isinstance(items, list):
                raise InvalidEvent(
                    f"{self.items} is not an array",
                    code="invalid_items",
                    details={"field": "items"},
                )
            if len(items) > self.max_items:
                raise PayloadTooLarge(
                    f"a request holds at most {self.max_items} events",
                    code="too_many_events",
                    details={"count": len(items), "limit": self.max_items},
                )
        ingested = Ingested([])
        for index, item in enumerate(items):
            try:
                ingested.events.append(self._event(request, item, index if indexed else None))
            except IngestError as exc:
                if not partial:
                    raise
                ingested.rejected.append(exc)
        return ingested

    def _event(self, request: _Request, item: Any, index: int | None) -> Event:
        def text(source: FieldSource | None) -> str | None:
            return None if source is None else _text(request.resolve(source, item))

        event_type = text(self.type)
        if event_type is None:
            raise _invalid("the event type was not found", "missing_type", index, "type")
        event_id, id_source = text(self.id), self.id
        for fallback in self._message_ids if event_id is None else ():
            event_id, id_source = text(fallback), fallback
            if event_id is not None:
                break
        if event_id is not None and index is not None and id_source and id_source.per_request:
            event_id = f"{event_id}:{index}"
        if event_id is not None and len(event_id) > _MAX_ID_LENGTH:
            raise _invalid(f"the id is longer than {_MAX_ID_LENGTH}", "invalid_field", index, "id")
        occurred_at = None
        if self.occurred_at is not None:
            occurred_at = parse_timestamp(request.resolve(self.occurred_at, item))
        return Event(
            id=event_id or request.new_id(),
            type=self.type_prefix + event_type,
            name=text(self.name),
            data=item if isinstance(item, dict) else {"value": item},
            occurred_at=occurred_at or request.received_at,
            received_at=request.received_at,
            source_id=request.source_id,
            user_id=text(self.user_id),
            anonymous_id=text(self.anonymous_id),
            email=text(self.email),
        )


@dataclass(frozen=True, slots=True)
class _Request:
    headers: Mapping[str, str]  # lower-cased names
    query: Mapping[str, str]
    source_id: str
    received_at: datetime
    new_id: IdFactory

    def resolve(self, source: FieldSource, item: Any) -> Any:
        if source.header is not None:
            return self.headers.get(source.header.lower())
        if source.query is not None:
            return self.query.get(source.query)
        if source.path is not None:
            return _lookup(item, _segments(source.path))
        return source.value


def build_mapping(config: Mapping[str, Any]) -> WebhookMapping:
    """A mapping from its config; raises :class:`ConfigError` naming the fields at fault."""
    try:
        return WebhookMapping.model_validate(config)
    except ValidationError as exc:
        raise ConfigError.from_validation_error("webhook mapping", exc) from exc


def parse_body(body: bytes, content_type: str | None) -> Any:
    """JSON, form-encoded (``data[merges][EMAIL]`` nests, as Mailchimp sends) or raw text."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return _form(body.decode("utf-8", "replace"))
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if is_json or (not media_type and body.lstrip()[:1] in (b"{", b"[")):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if is_json:
                raise BadRequest(
                    f"body is not valid JSON: {exc.msg}",
                    code="invalid_json",
                    details={"line": exc.lineno, "column": exc.colno},
                ) from exc
    return body.decode("utf-8", "replace")


def _form(text: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, bracket, rest = key.partition("[")
        parts = [head, *_BRACKET.findall(bracket + rest)] if bracket else [head]
        while len(parts) > 1 and parts[-1] == "":  # "tags[]" repeats like "tags"
            parts.pop()
        target = result
        for part in parts[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        last = parts[-1]
        if last not in target:
            target[last] = value
        elif isinstance(target[last], list):
            target[last].append(value)
        else:
            target[last] = [target[last], value]
    return result


@functools.lru_cache(maxsize=1024)
def _segments(path: str) -> tuple[str, ...]:
    text = path.removeprefix("$").removeprefix(".")
    if not text:
        return ()
    segments = tuple(text.split("."))
    if not all(_PATH_SEGMENT.fullmatch(segment) for segment in segments):
        raise ValueError(f"path {path!r} has an empty segment")
    return segments


def _lookup(value: Any, segments: tuple[str, ...]) -> Any:
    for segment in segments:
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isascii() and segment.isdigit():
            position = int(segment)
            value = value[position] if position < len(value) else None
        else:
            return None
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _invalid(message: str, code: str, index: int | None, field_name: str) -> InvalidEvent:
    details: dict[str, Any] = {"field": field_name}
    if index is not None:
        details["index"] = index
    return InvalidEvent(message, code=code, details=details)
