"""``/api/v1/event-types``: the names events are published under, with optional schemas."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.api.patching import PatchBody
from renkei.delivery.event_types import EventType, example_for
from renkei.security.tokens import Principal
from renkei.usecases import webhooks

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/event-types", tags=["event types"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]

NAME_PATTERN = r"^[A-Za-z0-9_.:\- ]+$"
_PLANNED = (
    "In the tracking plan: track events of this name (identify/group: their traits) are "
    "checked against the schema by sources with a plan_mode (docs/tracking-plans.md)"
)


class EventTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    description: str = Field("", max_length=2000)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    example: Any = None
    planned: StrictBool = Field(False, description=_PLANNED)  # "yes" is no answer


class EventTypePatch(PatchBody):
    model_config = ConfigDict(extra="forbid")
    nullable = frozenset({"schema_", "example"})

    description: str | None = Field(None, max_length=2000)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    example: Any = None
    archived: bool | None = None
    planned: StrictBool | None = Field(None, description=_PLANNED)


class EventTypeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    name: str
    description: str
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    example: Any = None
    archived: bool
    planned: bool = Field(description=_PLANNED)
    system: bool = Field(
        False,
        description="Published by Renkei itself (failures and alerts): listed with its "
        "schema for subscribers; it cannot be created, changed or archived",
    )
    created_at: datetime
    updated_at: datetime


def _out(kind: EventType) -> EventTypeOut:
    return EventTypeOut(
        name=kind.name,
        description=kind.description,
        schema=kind.schema,
        example=example_for(kind) if kind.schema is not None or kind.example is not None else None,
        archived=kind.archived,
        planned=kind.planned,
        system=kind.system,
        created_at=kind.created_at,
        updated_at=kind.updated_at,
    )


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@router.post("", status_code=201)
async def create(body: EventTypeIn, request: Request, principal: Writer) -> EventTypeOut:
    kind = await webhooks.create_event_type(
        _hub(request),
        principal,
        name=body.name,
        description=body.description,
        schema=body.schema_,
        example=body.example,
        planned=body.planned,
    )
    return _out(kind)


@router.get("")
async def list_all(
    request: Request,
    principal: Reader,
    limit: int | None = None,
    cursor: str | None = None,
    include_archived: bool = False,
) -> Page[EventTypeOut]:
    listed = await webhooks.list_event_types(
        _hub(request), principal, limit=limit, cursor=cursor, include_archived=include_archived
    )
    return Page(data=[_out(kind) for kind in listed], next_cursor=listed.next_cursor)


@router.get("/{name:path}")
async def get_one(name: str, request: Request, principal: Reader) -> EventTypeOut:
    return _out(await webhooks.get_event_type(_hub(request), principal, name))


@router.patch("/{name:path}")
async def patch(
    name: str, body: EventTypePatch, request: Request, principal: Writer
) -> EventTypeOut:
    changes = body.model_dump(exclude_unset=True, by_alias=True)
    return _out(await webhooks.update_event_type(_hub(request), principal, name, changes))


@router.delete("/{name:path}", status_code=204)
async def archive(name: str, request: Request, principal: Writer) -> None:
    """Archive: the type disappears from listings; events already published keep it."""
    await webhooks.archive_event_type(_hub(request), principal, name)
