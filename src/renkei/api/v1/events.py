"""``GET /api/v1/events`` (the event log, newest first) and ``GET /api/v1/events/{id}``.

The detail carries ``deliveries`` and ``flow_runs`` (``renkei.usecases.events``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.errors import ApiError
from renkei.api.pagination import Page
from renkei.events.envelope import parse_timestamp
from renkei.security.tokens import Principal
from renkei.usecases import events

router = APIRouter(prefix="/api/v1/events", tags=["events"])
Reader = Annotated[Principal, Depends(require("read"))]


class EventOut(BaseModel):
    id: str
    type: str
    name: str | None = Field(description="the track event name (page/screen name), else null")
    user_id: str | None
    anonymous_id: str | None
    email: str | None
    data: dict[str, Any]
    occurred_at: str
    received_at: str
    source_id: str | None


class EventDetailOut(EventOut):
    deliveries: list[dict[str, Any]] = Field(default_factory=list)
    flow_runs: list[dict[str, Any]] = Field(default_factory=list)


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise ApiError(400, f"{name} is not a time (RFC 3339 or unix seconds)", code="invalid_time")
    return parsed


@router.get("")
async def list_all(
    request: Request,
    principal: Reader,
    type: str | None = None,
    name: str | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    source_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[EventOut]:
    """Events newest first. ``type`` takes a comma-separated list; ``since``/``until``
    bound ``received_at`` (RFC 3339 or unix seconds)."""
    listed = await events.list_events(
        request.app.state.hub,
        principal,
        types=[part.strip() for part in (type or "").split(",") if part.strip()],
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        source_id=source_id,
        since=_time("since", since),
        until=_time("until", until),
        limit=limit,
        cursor=cursor,
    )
    return Page(data=[EventOut(**event) for event in listed], next_cursor=listed.next_cursor)


@router.get("/{event_id}")
async def get_one(event_id: str, request: Request, principal: Reader) -> EventDetailOut:
    detail = await events.get_event(request.app.state.hub, principal, event_id)
    return EventDetailOut(**detail.event, deliveries=detail.deliveries, flow_runs=detail.flow_runs)
