"""``/api/v1/endpoints``: outbound webhook targets, their secrets, test sends and recovery."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from renkei.api.auth import require
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.api.patching import PatchBody
from renkei.api.times import UtcDatetime
from renkei.delivery.endpoints import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    Endpoint,
    EndpointHealth,
    create_endpoint,
    delete_endpoint,
    endpoint_health,
    get_endpoint,
    list_endpoints,
    reveal_secret,
    rotate_secret,
    set_disabled,
    update_endpoint,
)
from renkei.delivery.queries import list_attempts
from renkei.egress.ssrf import TargetPolicy
from renkei.security.redaction import redact_header_values
from renkei.security.targets import may_move_credentials, origin
from renkei.security.tokens import Principal

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks
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


def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = _hub(request).webhooks
    return webhooks


@router.post("", status_code=201)
async def create(body: EndpointIn, request: Request, principal: Writer) -> EndpointOut:
    hub = _hub(request)
    fields = body.model_dump(exclude={"secret"}, exclude_none=True)
    async with hub.database.transaction() as tx:
        endpoint = await create_endpoint(
            tx,
            hub.keyring,
            fields,
            now=hub.clock.now(),
            https_only=hub.settings.https_only,
            secret=body.secret,
            policy=TargetPolicy.from_settings(hub.settings),
        )
        await hub.audit(
            tx,
            principal,
            "endpoint.created",
            target_type="endpoint",
            target_id=endpoint.id,
            details={"name": endpoint.name, "url": endpoint.url},
        )
    return endpoint_out(endpoint, EndpointHealth())


@router.get("")
async def list_all(
    request: Request,
    _: Reader,
    limit: int | None = None,
    cursor: str | None = None,
    event_type: str | None = None,
) -> Page[EndpointOut]:
    hub = _hub(request)
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        found = await list_endpoints(
            connection,
            hub.keyring,
            limit=size + 1,
            after=str(after) if after is not None else None,
            event_type=event_type,
        )
        more = len(found) > size
        found = found[:size]
        health = await endpoint_health(connection, [e.id for e in found], now=hub.clock.now())
    return Page(
        data=[endpoint_out(e, health.get(e.id)) for e in found],
        next_cursor=encode_cursor(found[-1].id) if more and found else None,
    )


@router.get("/{endpoint_id}")
async def get_one(endpoint_id: str, request: Request, _: Reader) -> EndpointOut:
    hub = _hub(request)
    async with hub.database.read() as connection:
        endpoint = await get_endpoint(connection, hub.keyring, endpoint_id)
        health = await endpoint_health(connection, [endpoint.id], now=hub.clock.now())
    return endpoint_out(endpoint, health.get(endpoint.id))


@router.patch("/{endpoint_id}")
async def patch(
    endpoint_id: str, body: EndpointPatch, request: Request, principal: Writer
) -> EndpointOut:
    hub = _hub(request)
    changes = body.model_dump(exclude_unset=True)
    disabled = changes.pop("disabled", None)
    async with hub.database.transaction() as tx:
        before, after = await update_endpoint(
            tx,
            hub.keyring,
            endpoint_id,
            changes,
            now=hub.clock.now(),
            https_only=hub.settings.https_only,
            policy=TargetPolicy.from_settings(hub.settings),
            may_move_credentials=may_move_credentials(principal.scope),
        )
        if before.headers and origin(before.url) != origin(after.url):
            # Where the custom headers go changed: who moved them, from where to where
            # (origins only, never a header value).
            await hub.audit(
                tx,
                principal,
                "endpoint.target_changed",
                target_type="endpoint",
                target_id=endpoint_id,
                details={
                    "from": [origin(before.url)],
                    "to": [origin(after.url)],
                    "given_again": "headers" in changes,
                },
            )
        if changes:
            await hub.audit(
                tx,
                principal,
                "endpoint.updated",
                target_type="endpoint",
                target_id=endpoint_id,
                details={"fields": sorted(changes)},
            )
        if disabled is True and await set_disabled(tx, endpoint_id, True, now=hub.clock.now()):
            await hub.audit(
                tx, principal, "endpoint.paused", target_type="endpoint", target_id=endpoint_id
            )
    if disabled is False:
        await _resume(request, endpoint_id, principal)
    return await get_one(endpoint_id, request, principal)


async def _resume(request: Request, endpoint_id: str, principal: Principal) -> int:
    hub = _hub(request)
    released = await _webhooks(request).resume(endpoint_id)
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            principal,
            "endpoint.resumed",
            target_type="endpoint",
            target_id=endpoint_id,
            details={"released": released},
        )
    return released


@router.post("/{endpoint_id}/pause")
async def pause(endpoint_id: str, request: Request, principal: Writer) -> EndpointOut:
    return await patch(endpoint_id, EndpointPatch(disabled=True), request, principal)


@router.post("/{endpoint_id}/resume")
async def resume(endpoint_id: str, request: Request, principal: Writer) -> EndpointOut:
    return await patch(endpoint_id, EndpointPatch(disabled=False), request, principal)


@router.delete("/{endpoint_id}", status_code=204)
async def remove(endpoint_id: str, request: Request, principal: Writer) -> None:
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        cancelled = await delete_endpoint(tx, endpoint_id, now=hub.clock.now())
        await hub.audit(
            tx,
            principal,
            "endpoint.deleted",
            target_type="endpoint",
            target_id=endpoint_id,
            details={"cancelled_deliveries": cancelled},
        )


@router.get("/{endpoint_id}/secret")
async def get_secret(endpoint_id: str, request: Request, principal: Admin) -> SecretOut:
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        key = await reveal_secret(tx, hub.keyring, endpoint_id)
        await hub.audit(
            tx, principal, "endpoint.secret_revealed", target_type="endpoint", target_id=endpoint_id
        )
    return SecretOut(key=key)


@router.post("/{endpoint_id}/secret/rotate")
async def rotate(
    endpoint_id: str, request: Request, principal: Admin, body: RotateIn | None = None
) -> SecretOut:
    hub = _hub(request)
    grace = hub.settings.secret_rotation_grace_seconds
    async with hub.database.transaction() as tx:
        key = await rotate_secret(
            tx,
            hub.keyring,
            endpoint_id,
            now=hub.clock.now(),
            grace_seconds=grace,
            new_secret=body.key if body else None,
        )
        await hub.audit(
            tx,
            principal,
            "endpoint.secret_rotated",
            target_type="endpoint",
            target_id=endpoint_id,
            details={"grace_seconds": grace},
        )
    return SecretOut(key=key)


@router.post("/{endpoint_id}/test")
async def test_send(endpoint_id: str, body: TestIn, request: Request, _: Writer) -> TestOut:
    result = await _webhooks(request).send_test(endpoint_id, body.event_type)
    return TestOut(**result.__dict__)


@router.post("/{endpoint_id}/recover", status_code=202)
async def recover(
    endpoint_id: str, body: RecoverIn, request: Request, principal: Writer
) -> RecoverOut:
    hub = _hub(request)
    count = await _webhooks(request).recover(endpoint_id, body.since, body.until)
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            principal,
            "endpoint.recovered",
            target_type="endpoint",
            target_id=endpoint_id,
            details={"since": body.since.isoformat(), "recovered": count},
        )
    return RecoverOut(recovered=count)


@router.get("/{endpoint_id}/attempts")
async def attempts(
    endpoint_id: str,
    request: Request,
    _: Reader,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[dict[str, Any]]:
    hub = _hub(request)
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    async with hub.database.read() as connection:
        await get_endpoint(connection, hub.keyring, endpoint_id)
        rows = await list_attempts(
            connection,
            endpoint_id=endpoint_id,
            limit=size + 1,
            before_id=int(before) if before else None,
        )
    more = len(rows) > size
    rows = rows[:size]
    return Page(data=rows, next_cursor=encode_cursor(rows[-1]["id"]) if more and rows else None)
