"""``/api/v1/syncs``: syncs, their runs and backfills; and the quota planner's view of a
connection at ``/api/v1/connections/{id}/quota``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.patching import PatchBody
from renkei.security.tokens import Principal
from renkei.usecases import syncs

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(tags=["syncs"])

Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]


class SyncIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    connection: str = Field(min_length=1, max_length=200)
    direction: str = Field(description="pull (vendor → Renkei) or push (Renkei → vendor)")
    object: str = Field(description="leads, activities (Marketo); contacts (HubSpot)")
    config: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any] = Field(
        default_factory=dict,
        description="every_seconds | cron; events, names, suppress_seconds (realtime push)",
    )
    enabled: bool = True


class SyncPatch(PatchBody):
    connection: str | None = None
    direction: str | None = None
    object: str | None = None
    config: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None
    enabled: bool | None = None


class RunIn(BaseModel):
    from_start: bool = Field(False, description="forget the cursor: a backfill from the start")


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@router.get("/api/v1/syncs")
async def list_syncs(
    request: Request,
    principal: Reader,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    listed = await syncs.list_syncs(_hub(request), principal, limit=limit, cursor=cursor)
    return {"data": [sync.to_dict() for sync in listed], "next_cursor": listed.next_cursor}


@router.post("/api/v1/syncs", status_code=201)
async def create_sync(body: SyncIn, request: Request, principal: Writer) -> dict[str, Any]:
    return (await syncs.create_sync(_hub(request), principal, body.model_dump())).to_dict()


@router.get("/api/v1/syncs/{ref}")
async def get_sync(ref: str, request: Request, principal: Reader) -> dict[str, Any]:
    return (await syncs.get_sync(_hub(request), principal, ref)).to_dict()


@router.patch("/api/v1/syncs/{ref}")
async def update_sync(
    ref: str, body: SyncPatch, request: Request, principal: Writer
) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    return (await syncs.update_sync(_hub(request), principal, ref, changes)).to_dict()


@router.delete("/api/v1/syncs/{ref}", status_code=204)
async def delete_sync(ref: str, request: Request, principal: Writer) -> Response:
    await syncs.delete_sync(_hub(request), principal, ref)
    return Response(status_code=204)


@router.post("/api/v1/syncs/{ref}/run", status_code=202)
async def run_sync(
    ref: str, request: Request, principal: Writer, body: RunIn | None = None
) -> dict[str, Any]:
    from_start = bool(body and body.from_start)
    return (await syncs.run_sync(_hub(request), principal, ref, from_start=from_start)).to_dict()


@router.get("/api/v1/syncs/{ref}/runs")
async def list_runs(
    ref: str,
    request: Request,
    principal: Reader,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    listed = await syncs.list_runs(_hub(request), principal, ref, limit=limit, cursor=cursor)
    return {"data": [run.to_dict() for run in listed], "next_cursor": listed.next_cursor}


@router.get("/api/v1/connections/{ref}/quota")
async def connection_quota(ref: str, request: Request, principal: Reader) -> dict[str, Any]:
    """Today's quota as the planner sees it: used, remaining, projected and the mode."""
    return await syncs.quota(_hub(request), principal, ref)
