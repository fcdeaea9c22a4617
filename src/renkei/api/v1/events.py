"""``GET /api/v1/events`` (the event log, newest first) and ``GET /api/v1/events/{id}``.

The detail carries ``deliveries`` and ``flow_runs``. They come from the features that own
them, through ``hub.services["event_detail_extras"]``: one provider or a list of them,
each ``async def provider(connection, event_id) -> dict`` returning fields to add (for
example ``{"deliveries": [...]}``). Without a provider both are empty lists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.api.auth import require
from renkei.api.errors import ApiError, NotFound
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.events.envelope import parse_timestamp
from renkei.events.history import EventQuery, event_dict, get_event, list_events
from renkei.security.tokens import Principal

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/events", tags=["events"])
Reader = Annotated[Principal, Depends(require("read"))]
DetailProvider = Callable[[AsyncConnection, str], Awaitable[dict[str, Any]]]


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
    _: Reader,
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
    hub: Hub = request.app.state.hub
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    if before is not None and not isinstance(before, int):
        raise ApiError(400, "cursor is not valid", code="invalid_cursor")
    query = EventQuery(
        types=[part.strip() for part in (type or "").split(",") if part.strip()],
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        source_id=source_id,
        since=_time("since", since),
        until=_time("until", until),
        before_seq=before,
        limit=size + 1,
    )
    async with hub.database.read() as connection:
        rows = await list_events(connection, query)
    more = len(rows) > size
    rows = rows[:size]
    return Page(
        data=[EventOut(**event_dict(row)) for row in rows],
        next_cursor=encode_cursor(rows[-1].seq) if more and rows else None,
    )


@router.get("/{event_id}")
async def get_one(event_id: str, request: Request, _: Reader) -> EventDetailOut:
    hub: Hub = request.app.state.hub
    async with hub.database.read() as connection:
        row = await get_event(connection, event_id)
        if row is None:
            raise NotFound("event", event_id)
        detail: dict[str, Any] = {**event_dict(row), "deliveries": [], "flow_runs": []}
        for provider in _providers(hub):
            detail.update(await provider(connection, event_id))
    return EventDetailOut(**detail)


def _providers(hub: Hub) -> list[DetailProvider]:
    found = hub.services.get("event_detail_extras")
    if found is None:
        return []
    if callable(found):
        return [found]
    return list(found)
