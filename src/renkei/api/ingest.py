"""The Segment-compatible tracking API: ``POST /v1/identify|track|page|screen|group|alias|batch``.

This is the hot path, so it is plain ASGI with Starlette's ``Request``/``Response`` (no
dependency injection, no per-request pydantic): read the body, decode and validate it with
``renkei.events.segment``, look the write key up in a short-lived cache, hand the events to
the group committer and answer ``{"success": true}`` once they are committed. Every answer
carries CORS headers so browser SDKs (analytics.js) can post from any origin.

It is served twice: as ordinary routes, and through :class:`IngestFastPath`, an ASGI
middleware that ``create_app`` installs outermost (``hub.services["asgi_middleware"]``) so
``/v1/*`` skips the management API's middleware and routing. The fast path therefore does
its own body limit and maps database errors itself; request ids and the generic HTTP
metrics are not recorded for it (see the ``renkei_ingest_*`` metrics instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter
from sqlalchemy.exc import DBAPIError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from renkei.events.errors import IngestError, InvalidEvent
from renkei.events.ingest import IngestService, Overloaded, StorageUnavailable, new_event_id
from renkei.events.metrics import REJECTED_REQUESTS, TRACKING_EVENTS
from renkei.events.segment import ENDPOINTS, decode_body, extract_write_key, to_events

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["IngestFastPath", "build_router", "error_body"]

PREFIX = "/v1/"
_SUCCESS = b'{"success":true}'
_JSON = "application/json"
_CORS = {"Access-Control-Allow-Origin": "*"}
_PREFLIGHT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Max-Age": "86400",
}
_DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding"


def error_body(code: str, message: str, details: Any = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details}})


def _error(status: int, code: str, message: str, details: Any = None, **headers: str) -> Response:
    REJECTED_REQUESTS.labels("tracking", code).inc()
    return Response(
        error_body(code, message, details),
        status_code=status,
        media_type=_JSON,
        headers={**_CORS, **{name.replace("_", "-"): value for name, value in headers.items()}},
    )


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class _Handler:
    """The tracking API for one hub, as a function of a Starlette request."""

    def __init__(self, hub: Hub, service: IngestService) -> None:
        self.clock = hub.clock
        self.service = service
        self.limits = service.limits
        self.max_body = hub.settings.max_body_bytes

    async def handle(self, request: Request, endpoint_name: str) -> Response:
        if request.method == "OPTIONS":
            allowed = request.headers.get("access-control-request-headers")
            answer = {
                **_PREFLIGHT,
                "Access-Control-Allow-Headers": allowed or _DEFAULT_ALLOWED_HEADERS,
            }
            return Response(status_code=204, headers=answer)
        if request.method != "POST":
            return _error(405, "method_not_allowed", "use POST", allow="POST, OPTIONS")
        endpoint = ENDPOINTS.get(endpoint_name)
        if endpoint is None:
            return _error(404, "not_found", "unknown endpoint: use /v1/track, /v1/batch ...")
        headers = request.headers
        service = self.service
        try:
            body = await _read_body(request, self.max_body)
            payload = decode_body(
                endpoint,
                body,
                content_type=headers.get("content-type"),
                content_encoding=headers.get("content-encoding"),
                limits=self.limits,
            )
            write_key = extract_write_key(headers.get("authorization"), payload)
            source_id = await service.source_for_write_key(write_key)
            ingested = to_events(
                endpoint,
                payload,
                source_id=source_id,
                received_at=self.clock.now(),
                new_id=new_event_id,
                limits=self.limits,
            )
            await service.store(ingested.events)
        except IngestError as exc:
            # Segment answers 400 for a message that breaks its rules; so do we.
            status = 400 if isinstance(exc, InvalidEvent) else exc.status
            return _error(status, exc.code, exc.message, exc.details)
        except _TooLarge:
            return _error(
                413,
                "payload_too_large",
                f"request body is larger than {self.max_body} bytes",
                {"limit": self.max_body},
            )
        except Overloaded as exc:
            return _error(503, "overloaded", str(exc), retry_after=str(exc.retry_after))
        except (StorageUnavailable, DBAPIError, OSError):
            return _error(
                503,
                "database_unavailable",
                "events could not be stored; try again shortly",
                retry_after="5",
            )
        TRACKING_EVENTS.inc(len(ingested.events))
        return Response(_SUCCESS, media_type=_JSON, headers=_CORS)


class IngestFastPath:
    """ASGI middleware: ``/v1/*`` goes straight to the tracking API."""

    def __init__(self, app: ASGIApp, handler: _Handler) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PREFIX) or "/" in path[len(PREFIX) :]:
            await self.app(scope, receive, send)
            return
        try:
            response = await self.handler.handle(Request(scope, receive), path[len(PREFIX) :])
        except ClientDisconnect:
            return
        await response(scope, receive, send)


def build_router(hub: Hub, service: IngestService) -> APIRouter:
    """The routes, and the fast path registered for ``create_app`` to install."""
    handler = _Handler(hub, service)
    hub.services.setdefault("asgi_middleware", []).append((IngestFastPath, {"handler": handler}))

    async def route(request: Request) -> Response:
        try:
            return await handler.handle(request, request.path_params["endpoint"])
        except ClientDisconnect:
            return Response(status_code=400)

    router = APIRouter(tags=["ingest"])
    router.add_route("/v1/{endpoint}", route, methods=["POST", "OPTIONS"], include_in_schema=False)
    return router
