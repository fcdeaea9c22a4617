"""Inbound webhooks: verify, keep the raw request, map it to events, store them.

A request that fails verification is counted and refused; nothing of it is stored. A
verified request is always kept in ``webhook_requests`` (secret headers and query
parameters redacted) with what became of it, so a request the mapping could not read can
be inspected and replayed once the mapping is fixed (:func:`replay_request`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import Gone, NotFound
from renkei.events.envelope import Event, format_timestamp, json_size
from renkei.events.errors import (
    BadRequest,
    IngestError,
    PayloadTooLarge,
    UnsupportedMediaType,
    VerificationFailed,
)
from renkei.events.ingest import IngestService, StoreExtra, check_storable, new_event_id
from renkei.events.metrics import VERIFICATION_FAILURES, WEBHOOK_EVENTS
from renkei.events.sources import HookSource, SourceNotFound
from renkei.events.suppressions import event_keys, suppression_set
from renkei.events.webhook_mapping import parse_body
from renkei.ids import new_id
from renkei.security.redaction import REDACTED, is_secret_name, redact
from renkei.store.tables.ingest import webhook_requests

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = [
    "InboundRequest",
    "RequestNotFound",
    "get_request",
    "list_requests",
    "receive",
    "replay_request",
    "request_dict",
]


class RequestNotFound(NotFound, LookupError):
    def __init__(self, request_id: str) -> None:
        super().__init__("request", request_id)


@dataclass(frozen=True, slots=True)
class InboundRequest:
    method: str
    url: str
    """As the vendor called it (the public URL), for schemes that sign the URL."""
    path: str
    query_string: str
    headers: Iterable[tuple[str, str]]
    body: bytes


async def receive(
    service: IngestService, source: HookSource, request: InboundRequest, *, now: datetime
) -> list[Event]:
    """Verify and ingest one request; returns its events (including already-stored ones)."""
    header_map = _header_map(request.headers)
    try:
        source.verifier.verify(request.method, request.url, header_map, request.body, now)
    except VerificationFailed:
        VERIFICATION_FAILURES.labels(source.id, source.scheme).inc()
        raise
    query = dict(parse_qsl(request.query_string, keep_blank_values=True))
    row: dict[str, Any] = {
        "id": new_id("whr"),
        "source_id": source.id,
        "received_at": now,
        "method": request.method,
        "path": _redacted_path(source, request.path, request.query_string),
        "headers": _redacted_headers(source, header_map),
        "body": request.body,
    }
    try:
        events = _to_events(
            source,
            header_map,
            query,
            request.body,
            received_at=now,
            max_bytes=service.hub.settings.max_body_bytes,
        )
        check_storable(events)
    except IngestError as exc:
        row |= {"status": "rejected", "error": exc.to_dict()["error"], "event_ids": []}
        await service.committer.store([], _insert(row))
        raise
    row |= {"status": "accepted", "error": None, "event_ids": [event.id for event in events]}
    await service.committer.store(events, _insert(row, service.hub, events))
    WEBHOOK_EVENTS.inc(len(events))
    return events


def _to_events(
    source: HookSource,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    *,
    received_at: datetime,
    max_bytes: int,
) -> list[Event]:
    body = _decoded(body, headers.get("content-encoding"), max_bytes)
    parsed = parse_body(body, headers.get("content-type"))
    ingested = source.mapping.to_events(
        headers=headers,
        query=query,
        body=parsed,
        source_id=source.id,
        received_at=received_at,
        new_id=new_event_id,
    )
    for index, event in enumerate(ingested.events):
        json_size(event.data, index=index)  # refuses what nests deeper than MAX_DEPTH
    return ingested.events


def _decoded(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body without its ``Content-Encoding`` (gzip, at most ``max_bytes`` inflated).

    Verification has already checked the body as it was sent; the raw request keeps it so.
    """
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in ("gzip", "x-gzip"):
        raise UnsupportedMediaType(
            "Content-Encoding must be gzip or identity",
            code="unsupported_encoding",
            details={"content_encoding": coding},
        )
    out = bytearray()
    remaining = body
    while remaining:  # a gzip file may hold several members
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(remaining, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise BadRequest("body is not valid gzip", code="invalid_gzip") from exc
        if len(out) > max_bytes:
            raise PayloadTooLarge(
                f"the inflated body is larger than {max_bytes} bytes", details={"limit": max_bytes}
            )
        if not inflater.eof:
            raise BadRequest("gzip body is truncated", code="invalid_gzip")
        remaining = inflater.unused_data
    return bytes(out)


def _insert(
    row: dict[str, Any], hub: Core | None = None, events: Sequence[Event] = ()
) -> StoreExtra:
    async def insert_row(connection: AsyncConnection, _: frozenset[str]) -> None:
        values = row
        if hub is not None and events:
            # A suppressed person's events were dropped: their raw request is not kept
            # either, only that it came (docs/privacy.md).
            checker = suppression_set(hub)
            held = {
                event.id
                for event in events
                if await checker.is_suppressed(connection, list(event_keys(event)))
            }
            if held:
                kept = [event.id for event in events if event.id not in held]
                values = {**row, "status": "suppressed", "body": b"", "event_ids": kept}
        await connection.execute(insert(webhook_requests).values(**values))

    return insert_row


def _header_map(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _redacted_headers(source: HookSource, headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: REDACTED
        if name in source.redact_headers or is_secret_name(name)
        else redact(value, known=source.secrets)
        for name, value in headers.items()
    }


def _redacted_path(source: HookSource, path: str, query_string: str) -> str:
    if not query_string:
        return path
    pairs = [
        (name, REDACTED if name in source.redact_query or is_secret_name(name) else value)
        for name, value in parse_qsl(query_string, keep_blank_values=True)
    ]
    return f"{path}?{redact(urlencode(pairs, safe='[]'), known=source.secrets)}"


# -- stored requests -----------------------------------------------------------------------------


def request_dict(row: Any, *, with_body: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "source_id": row.source_id,
        "received_at": format_timestamp(row.received_at),
        "method": row.method,
        "path": row.path,
        "headers": row.headers,
        "status": row.status,
        "error": row.error,
        "event_ids": row.event_ids,
        "size": len(row.body),
    }
    if with_body:
        body["body"] = bytes(row.body).decode("utf-8", "replace")
    return body


async def list_requests(
    connection: AsyncConnection, source_id: str, *, limit: int, before: str | None = None
) -> list[Any]:
    """A source's stored requests, newest first."""
    query = (
        select(webhook_requests)
        .where(webhook_requests.c.source_id == source_id)
        .order_by(webhook_requests.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(webhook_requests.c.id < before)
    return list(await connection.execute(query))


async def get_request(connection: AsyncConnection, source_id: str, request_id: str) -> Any:
    row = (
        await connection.execute(
            select(webhook_requests).where(
                webhook_requests.c.id == request_id,
                webhook_requests.c.source_id == source_id,
            )
        )
    ).first()
    if row is None:
        raise RequestNotFound(request_id)
    return row


async def replay_request(
    service: IngestService, source_id: str, request_id: str
) -> tuple[list[Event], list[Event]]:
    """Map a stored request again with the source's current mapping and store the events.

    It was verified when it arrived, so it is not verified again. Returns (events, new
    ones): ids taken from the request dedupe, so a replay never stores an event twice.
    """
    service.invalidate()
    source = await service.hook_source(source_id)
    if source is None:
        raise SourceNotFound(source_id)
    async with service.hub.database.read() as connection:
        row = await get_request(connection, source_id, request_id)
    if row.status == "suppressed":
        raise Gone(
            "this request came from a suppressed person: its body was not kept",
            code="suppressed",
        )
    _, _, query_string = row.path.partition("?")
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    events = _to_events(
        source,
        row.headers,
        query,
        bytes(row.body),
        received_at=row.received_at,
        max_bytes=service.hub.settings.max_body_bytes,
    )
    check_storable(events)
    ids = [event.id for event in events]

    async def mark(connection: AsyncConnection, _: frozenset[str]) -> None:
        await connection.execute(
            update(webhook_requests)
            .where(webhook_requests.c.id == request_id)
            .values(status="accepted", error=None, event_ids=ids)
        )

    fresh = await service.committer.store(events, mark)
    return events, fresh
