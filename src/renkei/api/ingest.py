"""The Segment-compatible tracking API: ``POST /v1/identify|track|page|screen|group|alias|batch``.

This is the hot path, so it is plain ASGI (no routing, no dependency injection, no
request objects, no per-request pydantic): read the body, decode and validate it with
``renkei.events.segment``, look the write key up in a short-lived cache, hand the events to
the group committer and answer ``{"success": true}`` once they are committed. Every answer
carries CORS headers so browser SDKs (analytics.js) can post from any origin.

:class:`IngestFastPath` is an ASGI middleware that ``create_app`` wraps around the whole
FastAPI app (``renkei.api.routes.fast_paths``): ``/v1/*`` never reaches the management
API's middleware and routing. It therefore does its own body limit and maps database
errors itself; request ids and the generic HTTP metrics are not recorded for it (see the
``renkei_ingest_*`` metrics instead).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Receive, Scope, Send

from renkei.events.errors import IngestError, InvalidEvent
from renkei.events.ingest import IngestService, Overloaded, StorageUnavailable, new_event_id
from renkei.events.metrics import REJECTED_REQUESTS, TRACKING_EVENTS
from renkei.events.segment import (
    ENDPOINTS,
    basic_auth_username,
    body_write_key,
    decode_body,
    to_events,
)

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["IngestFastPath", "error_body"]

PREFIX = "/v1/"
Headers = list[tuple[bytes, bytes]]
_JSON: Headers = [(b"content-type", b"application/json")]
_CORS: Headers = [(b"access-control-allow-origin", b"*")]
_SUCCESS_BODY = b'{"success":true}'
_SUCCESS_HEADERS: Headers = [
    *_JSON,
    *_CORS,
    (b"content-length", str(len(_SUCCESS_BODY)).encode()),
]
_PREFLIGHT: Headers = [
    *_CORS,
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-max-age", b"86400"),
]
_DEFAULT_ALLOWED_HEADERS = b"Authorization, Content-Type, Content-Encoding"
# The request headers the tracking API reads; the rest are skipped unread.
_WANTED = frozenset(
    (
        b"content-length",
        b"content-type",
        b"content-encoding",
        b"authorization",
        b"access-control-request-headers",
    )
)


def error_body(code: str, message: str, details: Any = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details}})


class _Answer(Exception):
    """Ends a request early with an error answer."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, **headers: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(code, message, details)
        self.headers: Headers = [
            (name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()
        ]
        REJECTED_REQUESTS.labels("tracking", code).inc()


async def _respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> _Answer:
    return _Answer(
        413, "payload_too_large", f"request body is larger than {limit} bytes", {"limit": limit}
    )


async def _read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _Disconnected(Exception):
    pass


class IngestFastPath:
    """ASGI middleware: ``/v1/*`` is the tracking API, everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, hub: Hub, service: IngestService) -> None:
        self.app = app
        self.clock = hub.clock
        self.service = service
        self.limits = service.limits
        self.max_body = hub.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX) or "/" in path[len(PREFIX) :]:
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope["headers"] if name in _WANTED}
        try:
            count = await self._handle(scope["method"], path[len(PREFIX) :], headers, receive)
        except _Answer as answer:
            await _respond(send, answer.status, answer.body, [*_JSON, *_CORS, *answer.headers])
            return
        except _Disconnected:
            return
        if count is None:  # a CORS preflight
            allowed = headers.get(b"access-control-request-headers", _DEFAULT_ALLOWED_HEADERS)
            await _respond(
                send, 204, b"", [*_PREFLIGHT, (b"access-control-allow-headers", allowed)]
            )
            return
        TRACKING_EVENTS.inc(count)
        await _respond(send, 200, _SUCCESS_BODY, _SUCCESS_HEADERS)

    async def _handle(
        self, method: str, endpoint_name: str, headers: dict[bytes, bytes], receive: Receive
    ) -> int | None:
        """Stores the request's events and returns how many; None for a preflight."""
        if method == "OPTIONS":
            return None
        if method != "POST":
            raise _Answer(405, "method_not_allowed", "use POST", allow="POST, OPTIONS")
        endpoint = ENDPOINTS.get(endpoint_name)
        if endpoint is None:
            raise _Answer(404, "not_found", "unknown endpoint: use /v1/track, /v1/batch ...")
        service = self.service
        try:
            body = await _read_body(receive, headers.get(b"content-length"), self.max_body)
            payload = decode_body(
                endpoint,
                body,
                content_type=_text(headers.get(b"content-type")),
                content_encoding=_text(headers.get(b"content-encoding")),
                limits=self.limits,
            )
            authorization = headers.get(b"authorization")
            username = None if authorization is None else _username(authorization)
            write_key = username or body_write_key(payload)
            source_id, plan_mode = await service.tracking_source(write_key)
            ingested = to_events(
                endpoint,
                payload,
                source_id=source_id,
                received_at=self.clock.now(),
                new_id=new_event_id,
                limits=self.limits,
            )
            # A plan may drop events: still 200, as Segment Protocols answers a blocked one.
            await service.store_tracked(ingested.events, source_id, plan_mode)
        except IngestError as exc:
            # Segment answers 400 for a message that breaks its rules; so do we.
            status = 400 if isinstance(exc, InvalidEvent) else exc.status
            raise _Answer(status, exc.code, exc.message, exc.details) from exc
        except Overloaded as exc:
            raise _Answer(503, "overloaded", str(exc), retry_after=str(exc.retry_after)) from exc
        except (StorageUnavailable, DBAPIError, OSError) as exc:
            raise _Answer(
                503,
                "database_unavailable",
                "events could not be stored; try again shortly",
                retry_after="5",
            ) from exc
        return len(ingested.events)


@functools.lru_cache(maxsize=10_000)
def _username(authorization: bytes) -> str | None:
    # SDKs send the same Basic credentials with every request: decode each once.
    return basic_auth_username(_text(authorization))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
