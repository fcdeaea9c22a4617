"""``POST /api/v1/events`` (publish) and ``GET /api/v1/events/{id}/deliveries``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from renkei.api.auth import require
from renkei.api.errors import NotFound
from renkei.api.v1.endpoints import WebhookRoute
from renkei.delivery.publishing import publish
from renkei.delivery.queries import deliveries_of_event
from renkei.security.tokens import Principal
from renkei.store.tables.core import events as events_table

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/events", tags=["events"], route_class=WebhookRoute)
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=200)
    data: Any = Field(default_factory=dict)
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


@router.post("", status_code=201, response_model=PublishedOut)
async def publish_event(
    body: PublishIn,
    request: Request,
    _: Writer,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    """Store the event and its deliveries in one transaction; 200 for an id already stored."""
    hub: Hub = request.app.state.hub
    webhooks: Webhooks = hub.services["webhooks"]
    published = await publish(
        webhooks,
        event_type=body.type,
        data=body.data,
        event_id=body.id,
        idempotency_key=idempotency_key,
    )
    headers = {"Idempotent-Replayed": "true"} if published.replayed else None
    return JSONResponse(published.body, status_code=published.status_code, headers=headers)


@router.get("/{event_id}/deliveries")
async def event_deliveries(event_id: str, request: Request, _: Reader) -> DeliveriesOut:
    hub: Hub = request.app.state.hub
    async with hub.database.read() as connection:
        found = (
            await connection.execute(select(events_table.c.id).where(events_table.c.id == event_id))
        ).first()
        if found is None:
            raise NotFound("event", event_id)
        rows = await deliveries_of_event(connection, event_id)
    return DeliveriesOut(data=[DeliveryOut(**row) for row in rows])
