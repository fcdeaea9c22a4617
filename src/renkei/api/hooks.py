"""``/hooks/{source_id}``: inbound vendor webhooks, verified, kept, mapped to events.

``POST`` (or ``PUT``) runs the source's verification and mapping (see
``renkei.events.inbound``). ``GET``/``HEAD`` answer 200 without storing anything, because
vendors such as Mailchimp validate a URL that way; a ``challenge`` or ``hub.challenge``
query parameter is echoed back for the vendors that expect it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from renkei.api.ingest import error_body
from renkei.events.errors import IngestError
from renkei.events.inbound import InboundRequest, receive
from renkei.events.ingest import IngestService, Overloaded, StorageUnavailable
from renkei.events.metrics import REJECTED_REQUESTS

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["build_router"]

_JSON = "application/json"
_CHALLENGE = re.compile(r"[A-Za-z0-9._~:-]{1,512}")


def _error(status: int, code: str, message: str, details: Any = None, **headers: str) -> Response:
    REJECTED_REQUESTS.labels("webhook", code).inc()
    return Response(
        error_body(code, message, details),
        status_code=status,
        media_type=_JSON,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


def build_router(hub: Hub, service: IngestService) -> APIRouter:
    public_url = (hub.settings.public_url or "").rstrip("/")

    async def hook(request: Request) -> Response:
        source_id = request.path_params["source_id"]
        source = await service.hook_source(source_id)
        if source is None:
            return _error(404, "not_found", f"source {source_id} does not exist")
        if not source.enabled:
            return _error(403, "source_disabled", "this source is disabled")
        if request.method in ("GET", "HEAD"):
            return _validation_answer(request)
        try:
            body = await request.body()
        except ClientDisconnect:  # gone, or its body timed out (answered 408 already)
            return Response(status_code=400)
        query_string = request.url.query
        url = str(request.url)
        if public_url:
            url = public_url + request.url.path + (f"?{query_string}" if query_string else "")
        inbound = InboundRequest(
            method=request.method,
            url=url,
            path=request.url.path,
            query_string=query_string,
            headers=[
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in request.headers.raw
            ],
            body=body,
        )
        try:
            events = await receive(service, source, inbound, now=hub.clock.now())
        except IngestError as exc:
            return _error(exc.status, exc.code, exc.message, exc.details)
        except Overloaded as exc:
            return _error(503, "overloaded", str(exc), retry_after=str(exc.retry_after))
        except StorageUnavailable:
            return _error(
                503,
                "database_unavailable",
                "the request could not be stored; try again shortly",
                retry_after="5",
            )
        answer = {"success": True, "event_ids": [event.id for event in events]}
        return Response(orjson.dumps(answer), media_type=_JSON)

    router = APIRouter(tags=["hooks"])
    router.add_route(
        "/hooks/{source_id}",
        hook,
        methods=["POST", "PUT", "GET", "HEAD"],
        include_in_schema=False,
    )
    return router


def _validation_answer(request: Request) -> Response:
    for name in ("hub.challenge", "challenge"):
        challenge = request.query_params.get(name)
        if challenge is not None and _CHALLENGE.fullmatch(challenge):
            return PlainTextResponse(challenge)
    return Response(b'{"success":true}', media_type=_JSON)
