"""``/api/v1/sources``: tracking sources (write keys) and webhook sources (verification,
mapping), their secrets, and the raw requests a webhook source received."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.api.patching import PatchBody
from renkei.events.sources import PLAN_OFF, Source, SourceChanges
from renkei.security.tokens import Principal
from renkei.usecases import sources

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
_ALWAYS = frozenset({"id", "name", "kind", "description", "enabled", "created_at", "updated_at"})
PlanMode = Literal["allow", "omit_properties", "block"]
_PLAN_MODE = (
    "tracking: what an event that breaks the tracking plan or is not in it gets "
    "(docs/tracking-plans.md)"
)


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["tracking", "webhook"]
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    enabled: bool = True
    verification: dict[str, Any] | None = Field(
        default=None,
        description='webhook: {"scheme": "none|shared_secret|basic_auth|hmac|standard_webhooks'
        '|hubspot_v3|stripe|shopify|klaviyo|twilio|sendgrid", ...options}',
    )
    mapping: dict[str, Any] | None = Field(
        default=None, description='webhook: {"type": ..., "id": ..., "user_id": ...}'
    )
    plan_mode: PlanMode | None = Field(default=None, description=_PLAN_MODE)
    preset: str | None = Field(
        default=None,
        description="webhook: a vendor preset (GET /api/v1/source-presets) that sets "
        "verification and mapping; mapping may still be given to replace the preset's",
    )
    settings: dict[str, Any] | None = Field(
        default=None, description="with preset: the values it needs, e.g. the signing secret"
    )


class SourcePatch(PatchBody):
    model_config = ConfigDict(extra="forbid")
    nullable = frozenset({"verification", "mapping", "plan_mode"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    enabled: bool | None = None
    verification: dict[str, Any] | None = None
    mapping: dict[str, Any] | None = None
    plan_mode: PlanMode | None = Field(default=None, description=f"{_PLAN_MODE}; null: off")


class SourceOut(BaseModel):
    id: str
    name: str
    kind: str
    description: str
    enabled: bool
    write_key_hint: str | None = Field(default=None, description="tracking: the key's start")
    url: str | None = Field(default=None, description="webhook: where vendors post")
    verification: dict[str, Any] | None = Field(
        default=None, description="webhook: the config without secrets, and has_secret"
    )
    mapping: dict[str, Any] | None = None
    plan_mode: PlanMode | None = Field(default=None, description=_PLAN_MODE)
    created_at: datetime
    updated_at: datetime

    @model_serializer(mode="wrap")
    def _kind_fields_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A tracking source has no url/verification/mapping, a webhook no key hint."""
        data: dict[str, Any] = handler(self)
        always = _ALWAYS | {"plan_mode"} if self.kind == "tracking" else _ALWAYS
        return {key: value for key, value in data.items() if value is not None or key in always}


class CreatedSourceOut(SourceOut):
    write_key: str | None = Field(default=None, description="tracking: the write key")
    secret: str | None = Field(default=None, description="webhook: a secret Renkei generated")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(
        default=None, min_length=1, description="the vendor-issued secret; else generated"
    )


class RequestOut(BaseModel):
    id: str
    source_id: str
    received_at: str
    method: str
    path: str
    headers: dict[str, str]
    status: Literal["accepted", "rejected", "suppressed"]
    error: dict[str, Any] | None
    event_ids: list[str]
    size: int
    body: str | None = None


class ReplayOut(BaseModel):
    event_ids: list[str]
    stored: int = Field(description="events that were not stored before")


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _base_url(request: Request) -> str:
    return _hub(request).settings.public_url or str(request.base_url)


def _out(request: Request, source: Source) -> SourceOut:
    return SourceOut(**source.to_dict(_base_url(request)))


@router.post("", status_code=201)
async def create(body: SourceIn, request: Request, principal: Writer) -> CreatedSourceOut:
    created = await sources.create_source(
        _hub(request),
        principal,
        kind=body.kind,
        name=body.name,
        description=body.description,
        enabled=body.enabled,
        verification=body.verification,
        mapping=body.mapping,
        plan_mode=body.plan_mode,
        preset=body.preset,
        settings=body.settings,
    )
    secret = next(iter(created.generated_secrets.values()), None)
    return CreatedSourceOut(
        **_out(request, created.source).model_dump(), write_key=created.write_key, secret=secret
    )


@router.get("")
async def list_all(
    request: Request,
    principal: Reader,
    kind: Literal["tracking", "webhook"] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[SourceOut]:
    listed = await sources.list_sources(
        _hub(request), principal, kind=kind, limit=limit, cursor=cursor
    )
    return Page(data=[_out(request, source) for source in listed], next_cursor=listed.next_cursor)


@router.get("/{source_id}")
async def get_one(source_id: str, request: Request, principal: Reader) -> SourceOut:
    return _out(request, await sources.get_source(_hub(request), principal, source_id))


@router.patch("/{source_id}")
async def patch(
    source_id: str, body: SourcePatch, request: Request, principal: Writer
) -> SourceOut:
    fields = body.model_dump()
    if "plan_mode" in body.model_fields_set and fields["plan_mode"] is None:
        fields["plan_mode"] = PLAN_OFF
    changes = SourceChanges(**fields)
    source = await sources.update_source(_hub(request), principal, source_id, changes)
    return _out(request, source)


@router.post("/{source_id}/disable")
async def disable(source_id: str, request: Request, principal: Writer) -> SourceOut:
    source = await sources.set_enabled(_hub(request), principal, source_id, False)
    return _out(request, source)


@router.post("/{source_id}/enable")
async def enable(source_id: str, request: Request, principal: Writer) -> SourceOut:
    source = await sources.set_enabled(_hub(request), principal, source_id, True)
    return _out(request, source)


@router.delete("/{source_id}", status_code=204)
async def remove(source_id: str, request: Request, principal: Writer) -> Response:
    await sources.delete_source(_hub(request), principal, source_id)
    return Response(status_code=204)


@router.get("/{source_id}/secret")
async def secret(source_id: str, request: Request, principal: Admin) -> dict[str, str]:
    """The write key of a tracking source, or the secret of a webhook source (audited)."""
    return await sources.reveal_secret(_hub(request), principal, source_id)


@router.post("/{source_id}/secret/rotate")
async def rotate(
    source_id: str, request: Request, principal: Admin, body: RotateIn | None = None
) -> dict[str, str]:
    """A new write key (the old one stops working at once) or a new verification secret."""
    return await sources.rotate_secret(
        _hub(request), principal, source_id, secret=body.secret if body else None
    )


@router.get("/{source_id}/requests")
async def requests(
    source_id: str,
    request: Request,
    principal: Reader,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[RequestOut]:
    """Raw requests this webhook source received (verified ones only), newest first."""
    listed = await sources.list_requests(
        _hub(request), principal, source_id, limit=limit, cursor=cursor
    )
    return Page(data=[RequestOut(**row) for row in listed], next_cursor=listed.next_cursor)


@router.get("/{source_id}/requests/{request_id}")
async def request_detail(
    source_id: str, request_id: str, request: Request, principal: Reader
) -> RequestOut:
    return RequestOut(**await sources.get_request(_hub(request), principal, source_id, request_id))


@router.post("/{source_id}/requests/{request_id}/replay")
async def replay(source_id: str, request_id: str, request: Request, principal: Writer) -> ReplayOut:
    """Map a stored request again (with the current mapping) and store its events."""
    replayed = await sources.replay_request(_hub(request), principal, source_id, request_id)
    return ReplayOut(event_ids=replayed.event_ids, stored=replayed.stored)
