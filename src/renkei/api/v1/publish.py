"""``POST /api/v1/events`` (publish) and ``GET /api/v1/events/{id}/deliveries``.

Publishing is a hot path: :class:`PublishFastPath`, wrapped around the whole FastAPI app
by ``create_app``, answers ``POST /api/v1/events`` itself (auth, body limit, the same
validation and error shapes) without FastAPI's middleware, routing and dependency
injection. The route below documents it in the OpenAPI schema and serves the same
request should it ever get there.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from renkei.api.auth import check_scope, principal_for, require
from renkei.api.errors import (
    database_error_response,
    renkei_error_response,
    validation_error_response,
)
from renkei.api.middleware import BodyLimit, JsonBody, RequestContext
from renkei.errors import RenkeiError
from renkei.security.tokens import Principal
from renkei.usecases import webhooks

if TYPE_CHECKING:
    from renkei.hub import Hub

log = structlog.get_logger("renkei.api")
router = APIRouter(prefix="/api/v1/events", tags=["events"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict, description="A JSON object.")
    id: str | None = Field(
        None, min_length=1, max_length=255, description="Kept as given; dedupe key."
    )


class PublishedOut(BaseModel):
    id: str
    type: str
    data: Any
    timestamp: str
    deliveries: int


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    endpoint_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class DeliveriesOut(BaseModel):
    data: list[DeliveryOut]
    next_cursor: str | None = None


@router.post(
    "",
    status_code=201,
    response_model=PublishedOut,
    responses={200: {"model": PublishedOut, "description": "Already published: nothing new."}},
)
async def publish_event(
    body: PublishIn,
    request: Request,
    principal: Writer,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    """Store the event and its deliveries in one transaction; 200 for an id already stored."""
    hub: Hub = request.app.state.hub
    published = await webhooks.publish(
        hub,
        principal,
        event_type=body.type,
        data=body.data,
        event_id=body.id,
        idempotency_key=idempotency_key,
    )
    headers = {"Idempotent-Replayed": "true"} if published.replayed else None
    return JSONResponse(published.body, status_code=published.status_code, headers=headers)


_PATH = "/api/v1/events"
_ROUTE = SimpleNamespace(path=_PATH)  # what RequestContext labels metrics with
_MAX_KEY_LENGTH = 255


class PublishFastPath:
    """ASGI middleware: ``POST /api/v1/events`` is published here, the rest goes to ``app``."""

    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        self.app = app
        self.hub = hub
        self.fast: ASGIApp = RequestContext(
            BodyLimit(JsonBody(self._serve), hub.settings.max_body_bytes)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == _PATH and scope["method"] == "POST":
            scope["route"] = _ROUTE
            await self.fast(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._publish(request)
        except RenkeiError as exc:
            response = renkei_error_response(exc)
        except ValidationError as exc:
            response = validation_error_response(exc.errors())
        except (SQLAlchemyError, OSError) as exc:
            response = database_error_response(exc, _PATH)
        except ClientDisconnect:
            return
        await response(scope, receive, send)

    async def _publish(self, request: Request) -> Response:
        principal = await principal_for(self.hub, request.headers.get("authorization"))
        check_scope(principal, "write")
        key = request.headers.get("idempotency-key")
        if key is not None and len(key) > _MAX_KEY_LENGTH:
            raise ValidationError.from_exception_data(
                "headers",
                [
                    {
                        "type": "string_too_long",
                        "loc": ("header", "idempotency-key"),
                        "input": key,
                        "ctx": {"max_length": _MAX_KEY_LENGTH},
                    }
                ],
            )
        body = PublishIn.model_validate_json(await request.body())
        published = await webhooks.publish(
            self.hub,
            principal,
            event_type=body.type,
            data=body.data,
            event_id=body.id,
            idempotency_key=key,
        )
        headers = {"Idempotent-Replayed": "true"} if published.replayed else None
        return Response(
            orjson.dumps(published.body),
            status_code=published.status_code,
            headers=headers,
            media_type="application/json",
        )


@router.get("/{event_id}/deliveries")
async def event_deliveries(event_id: str, request: Request, principal: Reader) -> DeliveriesOut:
    rows = await webhooks.deliveries_of_event(request.app.state.hub, principal, event_id)
    return DeliveriesOut(data=[DeliveryOut(**row) for row in rows])
