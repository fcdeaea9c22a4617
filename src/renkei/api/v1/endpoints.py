"""``/api/v1/endpoints``: outbound webhook targets, their secrets, test sends and recovery."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.api.patching import PatchBody
from renkei.api.times import UtcDatetime
from renkei.delivery.endpoints import DEFAULT_TIMEOUT, MAX_TIMEOUT, Endpoint, EndpointHealth
from renkei.security.redaction import redact_header_values
from renkei.security.tokens import Principal
from renkei.usecases import webhooks

if TYPE_CHECKING:
    from renkei.hub import Hub


router = APIRouter(prefix="/api/v1/endpoints", tags=["endpoints"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=4096)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    event_types: list[str] = Field(default_factory=list, description="Empty: every event type.")
    filter: dict[str, Any] | None = Field(
        None, description="A filter on the event (flows' filter language)."
    )
    headers: dict[str, str] | None = None
    timeout_seconds: float | None = Field(
        None, gt=0, le=MAX_TIMEOUT, description=f"Default {DEFAULT_TIMEOUT:g} s."
    )
    rate_limit_per_second: float | None = Field(None, gt=0)
    ordered: bool = False
    ordering_key: str | None = Field(
        None, description="FIFO per value of this path (e.g. user_id)."
    )
    disabled: bool = False
    secret: str | None = Field(None, description="whsec_...; generated when absent.")


class EndpointPatch(PatchBody):
    model_config = ConfigDict(extra="forbid")
    nullable = frozenset({"filter", "headers", "rate_limit_per_second", "ordering_key"})

    url: str | None = Field(None, max_length=4096)
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    event_types: list[str] | None = None
    filter: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    timeout_seconds: float | None = Field(None, gt=0, le=MAX_TIMEOUT)
    rate_limit_per_second: float | None = Field(None, gt=0)
    ordered: bool | None = None
    ordering_key: str | None = None
    disabled: bool | None = None


class Health(BaseModel):
    success_rate_24h: float | None
    attempts_24h: int
    last_attempt_at: datetime | None
    last_status_code: int | None
    failing_since: datetime | None
    pending: int


class EndpointOut(BaseModel):
    id: str
    name: str
    url: str
    description: str
    event_types: list[str]
    filter: dict[str, Any] | None
    headers: dict[str, str]
    timeout_seconds: float
    rate_limit_per_second: float | None
    ordered: bool
    ordering_key: str | None
    disabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    health: Health | None = None


class SecretOut(BaseModel):
    key: str


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, description="The new whsec_ secret; generated when absent.")


class TestIn(BaseModel):
    event_type: str


class TestOut(BaseModel):
    status_code: int | None
    duration_ms: float
    response_body: str
    success: bool
    error: str | None
    event_id: str


class RecoverIn(BaseModel):
    since: UtcDatetime
    until: UtcDatetime | None = None


class RecoverOut(BaseModel):
    recovered: int


def endpoint_out(endpoint: Endpoint, health: EndpointHealth | None = None) -> EndpointOut:
    out = EndpointOut(
        **{name: getattr(endpoint, name) for name in EndpointOut.model_fields if name != "health"}
    )
    # Custom headers may carry credentials, whatever their names: values are never listed.
    out.headers = redact_header_values(endpoint.headers)
    if health is not None:
        out.health = Health(
            success_rate_24h=health.success_rate_24h,
            attempts_24h=health.attempts_24h,
            last_attempt_at=health.last_attempt_at,
            last_status_code=health.last_status_code,
            failing_since=endpoint.failing_since,
            pending=health.pending,
        )
    return out


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _view_out(view: webhooks.EndpointView) -> EndpointOut:
    return endpoint_out(view.endpoint, view.health)


@router.post("", status_code=201)
async def create(body: EndpointIn, request: Request, principal: Writer) -> EndpointOut:
    fields = body.model_dump(exclude={"secret"}, exclude_none=True)
    endpoint = await webhooks.create_endpoint(_hub(request), principal, fields, secret=body.secret)
    return endpoint_out(endpoint, EndpointHealth())


@router.get("")
async def list_all(
    request: Request,
    principal: Reader,
    limit: int | None = None,
    cursor: str | None = None,
    event_type: str | None = None,
) -> Page[EndpointOut]:
    listed = await webhooks.list_endpoints(
        _hub(request), principal, limit=limit, cursor=cursor, event_type=event_type
    )
    return Page(data=[_view_out(view) for view in listed], next_cursor=listed.next_cursor)


@router.get("/{endpoint_id}")
async def get_one(endpoint_id: str, request: Request, principal: Reader) -> EndpointOut:
    return _view_out(await webhooks.get_endpoint(_hub(request), principal, endpoint_id))


@router.patch("/{endpoint_id}")
async def patch(
    endpoint_id: str, body: EndpointPatch, request: Request, principal: Writer
) -> EndpointOut:
    changes = body.model_dump(exclude_unset=True)
    view = await webhooks.update_endpoint(_hub(request), principal, endpoint_id, changes)
    return _view_out(view)


@router.post("/{endpoint_id}/pause")
async def pause(endpoint_id: str, request: Request, principal: Writer) -> EndpointOut:
    return await patch(endpoint_id, EndpointPatch(disabled=True), request, principal)


@router.post("/{endpoint_id}/resume")
async def resume(endpoint_id: str, request: Request, principal: Writer) -> EndpointOut:
    return await patch(endpoint_id, EndpointPatch(disabled=False), request, principal)


@router.delete("/{endpoint_id}", status_code=204)
async def remove(endpoint_id: str, request: Request, principal: Writer) -> None:
    await webhooks.delete_endpoint(_hub(request), principal, endpoint_id)


@router.get("/{endpoint_id}/secret")
async def get_secret(endpoint_id: str, request: Request, principal: Admin) -> SecretOut:
    return SecretOut(key=await webhooks.reveal_secret(_hub(request), principal, endpoint_id))


@router.post("/{endpoint_id}/secret/rotate")
async def rotate(
    endpoint_id: str, request: Request, principal: Admin, body: RotateIn | None = None
) -> SecretOut:
    key = await webhooks.rotate_secret(
        _hub(request), principal, endpoint_id, new_secret=body.key if body else None
    )
    return SecretOut(key=key)


@router.post("/{endpoint_id}/test")
async def test_send(endpoint_id: str, body: TestIn, request: Request, principal: Writer) -> TestOut:
    result = await webhooks.send_test(_hub(request), principal, endpoint_id, body.event_type)
    return TestOut(**result.__dict__)


@router.post("/{endpoint_id}/recover", status_code=202)
async def recover(
    endpoint_id: str, body: RecoverIn, request: Request, principal: Writer
) -> RecoverOut:
    count = await webhooks.recover(
        _hub(request), principal, endpoint_id, since=body.since, until=body.until
    )
    return RecoverOut(recovered=count)


@router.get("/{endpoint_id}/attempts")
async def attempts(
    endpoint_id: str,
    request: Request,
    principal: Reader,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[dict[str, Any]]:
    listed = await webhooks.list_attempts(
        _hub(request), principal, endpoint_id, limit=limit, cursor=cursor
    )
    return Page(data=listed.items, next_cursor=listed.next_cursor)
