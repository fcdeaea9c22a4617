"""``/api/v1/syncs``: syncs, their runs and backfills; and the quota planner's view of a
connection at ``/api/v1/connections/{id}/quota``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.errors import ApiError, NotFound
from renkei.api.pagination import clamp_limit, decode_cursor, encode_cursor
from renkei.api.patching import PatchBody
from renkei.connectors.errors import PermanentError
from renkei.security.tokens import Principal
from renkei.syncs.model import SyncExists, SyncInvalid
from renkei.syncs.service import SyncNotFound

if TYPE_CHECKING:
    from renkei.hub import Hub
    from renkei.syncs.service import SyncService

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


def _service(request: Request) -> SyncService:
    hub: Hub = request.app.state.hub
    service: SyncService = hub.syncs
    return service


def _invalid(exc: Exception) -> ApiError:
    return ApiError(422, str(exc), code="invalid_sync")


@router.get("/api/v1/syncs")
async def list_syncs(
    request: Request,
    _: Reader,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    found = await _service(request).list(limit=size + 1, after=after)
    more = len(found) > size
    found = found[:size]
    return {
        "data": [sync.to_dict() for sync in found],
        "next_cursor": encode_cursor(found[-1].id) if more and found else None,
    }


@router.post("/api/v1/syncs", status_code=201)
async def create_sync(body: SyncIn, request: Request, principal: Writer) -> dict[str, Any]:
    service = _service(request)
    try:
        sync = await service.create(body.model_dump())
    except SyncInvalid as exc:
        raise _invalid(exc) from None
    except SyncExists:
        raise ApiError(409, f"a sync named {body.name!r} exists", code="conflict") from None
    async with service.hub.database.transaction() as tx:
        await service.hub.audit(
            tx, principal, "sync.created", target_type="sync", target_id=sync.id
        )
    return sync.to_dict()


@router.get("/api/v1/syncs/{ref}")
async def get_sync(ref: str, request: Request, _: Reader) -> dict[str, Any]:
    try:
        return (await _service(request).get(ref)).to_dict()
    except SyncNotFound:
        raise NotFound("sync", ref) from None


@router.patch("/api/v1/syncs/{ref}")
async def update_sync(ref: str, body: SyncPatch, request: Request, _: Writer) -> dict[str, Any]:
    try:
        sync = await _service(request).update(ref, body.model_dump(exclude_none=True))
    except SyncNotFound:
        raise NotFound("sync", ref) from None
    except SyncInvalid as exc:
        raise _invalid(exc) from None
    return sync.to_dict()


@router.delete("/api/v1/syncs/{ref}", status_code=204)
async def delete_sync(ref: str, request: Request, _: Writer) -> Response:
    try:
        await _service(request).delete(ref)
    except SyncNotFound:
        raise NotFound("sync", ref) from None
    return Response(status_code=204)


@router.post("/api/v1/syncs/{ref}/run", status_code=202)
async def run_sync(
    ref: str, request: Request, _: Writer, body: RunIn | None = None
) -> dict[str, Any]:
    service = _service(request)
    try:
        run_id = await service.run(ref, from_start=bool(body and body.from_start))
    except SyncNotFound:
        raise NotFound("sync", ref) from None
    run = await service.get_run(run_id)
    assert run is not None
    return run.to_dict()


@router.get("/api/v1/syncs/{ref}/runs")
async def list_runs(
    ref: str,
    request: Request,
    _: Reader,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    size = clamp_limit(limit)
    try:
        found = await _service(request).runs(ref, limit=size + 1, before=decode_cursor(cursor))
    except SyncNotFound:
        raise NotFound("sync", ref) from None
    more = len(found) > size
    found = found[:size]
    return {
        "data": [run.to_dict() for run in found],
        "next_cursor": encode_cursor(found[-1].id) if more and found else None,
    }


@router.get("/api/v1/connections/{ref}/quota")
async def connection_quota(ref: str, request: Request, _: Reader) -> dict[str, Any]:
    """Today's quota as the planner sees it: used, remaining, projected and the mode."""
    try:
        return await _service(request).quota(ref)
    except PermanentError:
        raise NotFound("connection", ref) from None
