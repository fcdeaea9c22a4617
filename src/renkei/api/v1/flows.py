"""``/api/v1/flows``: create, edit (a new version), enable/disable, runs and preview."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.api.patching import PatchBody
from renkei.flows.service import FlowRecord
from renkei.security.tokens import Principal
from renkei.usecases import flows

if TYPE_CHECKING:
    from renkei.hub import Hub


router = APIRouter(prefix="/api/v1/flows", tags=["flows"])
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
    return _out(await flows.create_flow(_hub(request), principal, body.model_dump()))


@router.post("/validate")
async def validate(body: ValidateIn, principal: Reader) -> dict[str, Any]:
    """Check a spec without saving it: ``{"valid": bool, "problems": [...]}``."""
    problems = flows.validate(principal, body.model_dump(exclude_none=True))
    return {"valid": not problems, "problems": problems}


@router.get("")
async def list_all(
    request: Request, principal: Reader, limit: int | None = None, cursor: str | None = None
) -> Page[FlowOut]:
    listed = await flows.list_flows(_hub(request), principal, limit=limit, cursor=cursor)
    return Page(data=[_out(r) for r in listed], next_cursor=listed.next_cursor)


@router.get("/{flow_id}")
async def show(flow_id: str, request: Request, principal: Reader) -> FlowOut:
    return _out(await flows.get_flow(_hub(request), principal, flow_id))


@router.patch("/{flow_id}")
async def edit(flow_id: str, body: FlowPatch, request: Request, principal: Writer) -> FlowOut:
    """Change any field; a change to trigger, steps or reeligibility makes a new version."""
    changes = body.model_dump(exclude_unset=True)
    return _out(await flows.update_flow(_hub(request), principal, flow_id, changes))


@router.put("/{flow_id}")
async def replace(flow_id: str, body: FlowIn, request: Request, principal: Writer) -> FlowOut:
    record = await flows.update_flow(
        _hub(request), principal, flow_id, body.model_dump(), replace=True
    )
    return _out(record)


@router.delete("/{flow_id}", status_code=204)
async def remove(flow_id: str, request: Request, principal: Writer) -> None:
    await flows.delete_flow(_hub(request), principal, flow_id)


@router.post("/{flow_id}/enable")
async def enable(flow_id: str, request: Request, principal: Writer) -> FlowOut:
    return _out(await flows.set_enabled(_hub(request), principal, flow_id, True))


@router.post("/{flow_id}/disable")
async def disable(flow_id: str, request: Request, principal: Writer) -> FlowOut:
    """New events no longer start runs; runs under way finish."""
    return _out(await flows.set_enabled(_hub(request), principal, flow_id, False))


@router.get("/{flow_id}/versions")
async def versions(flow_id: str, request: Request, principal: Reader) -> Page[dict[str, Any]]:
    return Page(data=await flows.list_versions(_hub(request), principal, flow_id))


@router.get("/{flow_id}/runs")
async def runs(
    flow_id: str,
    request: Request,
    principal: Reader,
    limit: int | None = None,
    cursor: str | None = None,
    status: Annotated[
        Literal["queued", "running", "waiting", "succeeded", "stopped", "failed", "skipped"] | None,
        Query(),
    ] = None,
) -> Page[dict[str, Any]]:
    """Runs, newest first, each with its steps' inputs, outputs and problems (secrets redacted)."""
    listed = await flows.list_runs(
        _hub(request), principal, flow_id, limit=limit, cursor=cursor, status=status
    )
    return Page(data=listed.items, next_cursor=listed.next_cursor)


@router.get("/{flow_id}/runs/{run_id}")
async def run_detail(
    flow_id: str, run_id: str, request: Request, principal: Reader
) -> dict[str, Any]:
    return await flows.get_run(_hub(request), principal, flow_id, run_id)


@router.post("/{flow_id}/preview")
async def preview(
    flow_id: str, body: PreviewIn, request: Request, principal: Writer
) -> dict[str, Any]:
    """What the flow would do with this event: every step's output and the exact HTTP
    requests it would make. Sends nothing, stores nothing."""
    return await flows.preview(
        _hub(request),
        principal,
        flow_id,
        event=body.event,
        event_id=body.event_id,
        profile=body.profile,
        responses=body.responses,
        version=body.version,
    )


@router.get("/{flow_id}/secret")
async def secret(flow_id: str, request: Request, principal: Admin) -> dict[str, str]:
    """The secret that signs this flow's requests to ad-hoc URLs (Standard Webhooks)."""
    return {"secret": await flows.reveal_secret(_hub(request), principal, flow_id)}


@router.post("/{flow_id}/secret/rotate")
async def rotate(flow_id: str, request: Request, principal: Admin) -> dict[str, str]:
    return {"secret": await flows.rotate_secret(_hub(request), principal, flow_id)}
