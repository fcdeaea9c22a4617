"""``/api/v1/violations``: tracking plan violations, grouped by source, event and problem."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.security.tokens import Principal
from renkei.usecases import violations

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/violations", tags=["tracking plan"])
Reader = Annotated[Principal, Depends(require("read"))]


class ViolationOut(BaseModel):
    id: str = Field(description="The group: one per source, event and problem")
    source_id: str
    event_type: str = Field(description="track, identify or group")
    event_name: str | None = Field(description="The track event's name")
    problem: str = Field(description="unplanned_event, or the JSON Schema keyword that failed")
    path: str = Field(description="Where: properties.amount, traits.email, event")
    message: str = Field(description="The latest occurrence's message")
    action: Literal["allowed", "omitted", "blocked"] = Field(
        description="What the source's plan mode did to the latest occurrence"
    )
    count: int
    first_seen: datetime
    last_seen: datetime
    sample: dict[str, Any] = Field(description="The latest occurrence: event id and payload")


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@router.get("", responses={404: {}})
async def list_all(
    request: Request,
    principal: Reader,
    source: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Id or name")
    ] = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[ViolationOut]:
    """Violation groups with counts, first and last seen and a sample; 404 for a source
    that does not exist."""
    listed = await violations.list_violations(
        _hub(request), principal, source=source, limit=limit, cursor=cursor
    )
    return Page(
        data=[ViolationOut(**violation.to_dict()) for violation in listed],
        next_cursor=listed.next_cursor,
    )
