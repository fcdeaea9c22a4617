"""``/api/v1/flows``: create, edit (a new version), enable/disable, runs and preview."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from renkei.api.auth import require
from renkei.api.errors import ApiError, NotFound, error_response
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.api.patching import PatchBody
from renkei.events.history import event_dict, get_event
from renkei.flows.preview import preview_flow, sample_event
from renkei.flows.problems import FlowSpecError
from renkei.flows.scope import load_profile
from renkei.flows.service import (
    FlowConflict,
    FlowNotFound,
    FlowRecord,
    create_flow,
    delete_flow,
    get_flow,
    get_run,
    list_flows,
    list_runs,
    list_versions,
    reveal_secret,
    rotate_secret,
    secret_targets,
    set_enabled,
    update_flow,
)
from renkei.flows.spec import validate_flow
from renkei.security.targets import CredentialMove, may_move_credentials
from renkei.security.tokens import Principal

if TYPE_CHECKING:
    from renkei.flows.engine import FlowEngine
    from renkei.hub import Hub


class FlowRoute(APIRoute):
    """Service exceptions become the standard error shape (422 with every problem)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except FlowSpecError as exc:
                return error_response(422, "invalid_flow", str(exc), exc.problems)
            except FlowNotFound as exc:
                return error_response(404, "not_found", str(exc))
            except FlowConflict as exc:
                return error_response(409, "conflict", str(exc))
            except CredentialMove as move:
                return error_response(403, move.code, move.message, move.details)

        return route


router = APIRouter(prefix="/api/v1/flows", tags=["flows"], route_class=FlowRoute)
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]

_SPEC_DOC = "See docs/flows.md for the trigger, step and re-eligibility language."


class FlowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    enabled: bool = True
    trigger: dict[str, Any] = Field(description=_SPEC_DOC)
    reeligibility: dict[str, Any] | str | None = None
    steps: list[dict[str, Any]]


class FlowPatch(PatchBody):
    model_config = ConfigDict(extra="forbid")
    nullable = frozenset({"reeligibility"})

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    enabled: bool | None = None
    trigger: dict[str, Any] | None = None
    reeligibility: dict[str, Any] | str | None = None
    steps: list[dict[str, Any]] | None = None


class FlowOut(BaseModel):
    id: str
    name: str
    description: str
    enabled: bool
    version: int
    trigger: dict[str, Any]
    reeligibility: dict[str, Any] | str | None = None
    steps: list[dict[str, Any]]
    created_at: str
    updated_at: str


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any] | None = Field(
        None, description="A sample event: type, name, data, user_id ..."
    )
    event_id: str | None = Field(None, description="Or a stored event's id.")
    profile: dict[str, Any] | None = Field(
        None, description="A sample profile (default: the event's)."
    )
    responses: dict[str, Any] = Field(
        default_factory=dict, description="Per HTTP step id, a response to pretend: {status, body}."
    )
    version: int | None = Field(None, description="Preview an older version.")


class ValidateIn(BaseModel):
    trigger: Any = None
    reeligibility: Any = None
    steps: Any = None


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _out(record: FlowRecord) -> FlowOut:
    return FlowOut(**record.to_dict())


@router.post("", status_code=201)
async def create(body: FlowIn, request: Request, principal: Writer) -> FlowOut:
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        record = await create_flow(
            hub, tx, body.model_dump(), may_move_credentials=may_move_credentials(principal.scope)
        )
        await _audit_moves(hub, tx, principal, None, record)
        await hub.audit(
            tx,
            principal,
            "flow.created",
            target_type="flow",
            target_id=record.id,
            details={"name": record.name},
        )
    return _out(record)


@router.post("/validate")
async def validate(body: ValidateIn, _: Reader) -> dict[str, Any]:
    """Check a spec without saving it: ``{"valid": bool, "problems": [...]}``."""
    problems = validate_flow(body.model_dump(exclude_none=True))
    return {"valid": not problems, "problems": problems}


@router.get("")
async def list_all(
    request: Request, _: Reader, limit: int | None = None, cursor: str | None = None
) -> Page[FlowOut]:
    hub = _hub(request)
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        records = await list_flows(connection, limit=size + 1, after=after)
    more = len(records) > size
    records = records[:size]
    return Page(
        data=[_out(r) for r in records], next_cursor=encode_cursor(records[-1].id) if more else None
    )


@router.get("/{flow_id}")
async def show(flow_id: str, request: Request, _: Reader) -> FlowOut:
    async with _hub(request).database.read() as connection:
        return _out(await get_flow(connection, flow_id))


@router.patch("/{flow_id}")
async def edit(flow_id: str, body: FlowPatch, request: Request, principal: Writer) -> FlowOut:
    """Change any field; a change to trigger, steps or reeligibility makes a new version."""
    hub = _hub(request)
    changes = body.model_dump(exclude_unset=True)
    async with hub.database.transaction() as tx:
        before = await get_flow(tx, flow_id)
        record = await update_flow(
            hub, tx, flow_id, changes, may_move_credentials=may_move_credentials(principal.scope)
        )
        await _audit_moves(hub, tx, principal, before, record)
        await hub.audit(
            tx,
            principal,
            "flow.updated",
            target_type="flow",
            target_id=flow_id,
            details={"version": record.version, "fields": sorted(changes)},
        )
    return _out(record)


@router.put("/{flow_id}")
async def replace(flow_id: str, body: FlowIn, request: Request, principal: Writer) -> FlowOut:
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        before = await get_flow(tx, flow_id)
        record = await update_flow(
            hub,
            tx,
            flow_id,
            body.model_dump(),
            may_move_credentials=may_move_credentials(principal.scope),
        )
        await _audit_moves(hub, tx, principal, before, record)
        await hub.audit(
            tx,
            principal,
            "flow.updated",
            target_type="flow",
            target_id=flow_id,
            details={"version": record.version},
        )
    return _out(record)


async def _audit_moves(
    hub: Hub, tx: Any, principal: Principal, before: FlowRecord | None, after: FlowRecord
) -> None:
    """Record a secret sent to a new host: who, from where, to where (origins), which
    secrets (names, never a value). A new flow's own signing secret is no move."""
    old = secret_targets(before.spec) if before else set()
    new = secret_targets(after.spec, signing=before is not None) - old
    if new:
        await hub.audit(
            tx,
            principal,
            "flow.target_changed",
            target_type="flow",
            target_id=after.id,
            details={
                "from": sorted({where for where, _ in old}),
                "to": sorted({where for where, _ in new}),
                "uses": sorted({secret for _, secret in new}),
            },
        )


@router.delete("/{flow_id}", status_code=204)
async def remove(flow_id: str, request: Request, principal: Writer) -> None:
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        await delete_flow(hub, tx, flow_id)
        await hub.audit(tx, principal, "flow.deleted", target_type="flow", target_id=flow_id)


async def _switch(flow_id: str, request: Request, principal: Principal, enabled: bool) -> FlowOut:
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        record = await set_enabled(hub, tx, flow_id, enabled)
        action = "flow.enabled" if enabled else "flow.disabled"
        await hub.audit(tx, principal, action, target_type="flow", target_id=flow_id)
    return _out(record)


@router.post("/{flow_id}/enable")
async def enable(flow_id: str, request: Request, principal: Writer) -> FlowOut:
    return await _switch(flow_id, request, principal, True)


@router.post("/{flow_id}/disable")
async def disable(flow_id: str, request: Request, principal: Writer) -> FlowOut:
    """New events no longer start runs; runs under way finish."""
    return await _switch(flow_id, request, principal, False)


@router.get("/{flow_id}/versions")
async def versions(flow_id: str, request: Request, _: Reader) -> Page[dict[str, Any]]:
    async with _hub(request).database.read() as connection:
        return Page(data=await list_versions(connection, flow_id))


@router.get("/{flow_id}/runs")
async def runs(
    flow_id: str,
    request: Request,
    _: Reader,
    limit: int | None = None,
    cursor: str | None = None,
    status: Annotated[
        Literal["queued", "running", "waiting", "succeeded", "stopped", "failed", "skipped"] | None,
        Query(),
    ] = None,
) -> Page[dict[str, Any]]:
    """Runs, newest first, each with its steps' inputs, outputs and problems (secrets redacted)."""
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    async with _hub(request).database.read() as connection:
        await get_flow(connection, flow_id)
        found = await list_runs(connection, flow_id, limit=size + 1, before=before, status=status)
    more = len(found) > size
    found = found[:size]
    return Page(data=found, next_cursor=encode_cursor(found[-1]["id"]) if more else None)


@router.get("/{flow_id}/runs/{run_id}")
async def run_detail(flow_id: str, run_id: str, request: Request, _: Reader) -> dict[str, Any]:
    async with _hub(request).database.read() as connection:
        found = await get_run(connection, run_id)
    if found is None or found["flow_id"] != flow_id:
        raise NotFound("run", run_id)
    return found


@router.post("/{flow_id}/preview")
async def preview(flow_id: str, body: PreviewIn, request: Request, _: Writer) -> dict[str, Any]:
    """What the flow would do with this event: every step's output and the exact HTTP
    requests it would make. Sends nothing, stores nothing."""
    hub = _hub(request)
    engine: FlowEngine = hub.flows
    now_text = hub.clock.now().isoformat()
    async with hub.database.read() as connection:
        record = await get_flow(connection, flow_id)
        spec = record.spec
        version = record.version
        if body.version is not None and body.version != record.version:
            compiled = await engine.catalog.version(connection, flow_id, body.version)
            spec, version = compiled.spec, body.version
        if body.event_id is not None:
            row = await get_event(connection, body.event_id)
            if row is None:
                raise NotFound("event", body.event_id)
            event = event_dict(row)
        elif body.event is not None:
            event = sample_event(body.event, now_text)
        else:
            raise ApiError(422, "give a sample event or an event_id", code="validation_failed")
        profile = (
            body.profile if body.profile is not None else await load_profile(connection, event)
        )
        secret = await reveal_secret(hub, connection, flow_id)
    return await preview_flow(
        engine,
        flow_id=flow_id,
        name=record.name,
        version=version,
        spec=spec,
        secret=secret,
        event=event,
        profile=profile,
        responses=body.responses,
    )


@router.get("/{flow_id}/secret")
async def secret(flow_id: str, request: Request, principal: Admin) -> dict[str, str]:
    """The secret that signs this flow's requests to ad-hoc URLs (Standard Webhooks)."""
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        value = await reveal_secret(hub, tx, flow_id)
        await hub.audit(
            tx, principal, "flow.secret_revealed", target_type="flow", target_id=flow_id
        )
    return {"secret": value}


@router.post("/{flow_id}/secret/rotate")
async def rotate(flow_id: str, request: Request, principal: Admin) -> dict[str, str]:
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        value = await rotate_secret(hub, tx, flow_id)
        await hub.audit(tx, principal, "flow.secret_rotated", target_type="flow", target_id=flow_id)
    return {"secret": value}
