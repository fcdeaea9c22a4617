"""``/api/v1/sources``: tracking sources (write keys) and webhook sources (verification,
mapping), their secrets, and the raw requests a webhook source received."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from renkei.api.auth import require
from renkei.api.errors import ApiError, NotFound
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.api.patching import PatchBody
from renkei.events import inbound
from renkei.events.errors import IngestError
from renkei.events.ingest import (
    IngestService,
    Overloaded,
    StorageUnavailable,
)
from renkei.events.sources import (
    Source,
    SourceChanges,
    SourceError,
    create_source,
    delete_source,
    get_source,
    list_sources,
    reveal_secret,
    rotate_secret,
    update_source,
)
from renkei.security.tokens import Principal

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
_ALWAYS = frozenset({"id", "name", "kind", "description", "enabled", "created_at", "updated_at"})


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["tracking", "webhook"]
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    enabled: bool = True
    verification: dict[str, Any] | None = Field(
        default=None,
        description='webhook: {"scheme": "none|shared_secret|basic_auth|hmac|standard_webhooks'
        '|hubspot_v3|stripe|shopify|klaviyo", ...options}',
    )
    mapping: dict[str, Any] | None = Field(
        default=None, description='webhook: {"type": ..., "id": ..., "user_id": ...}'
    )


class SourcePatch(PatchBody):
    model_config = ConfigDict(extra="forbid")
    nullable = frozenset({"verification", "mapping"})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    enabled: bool | None = None
    verification: dict[str, Any] | None = None
    mapping: dict[str, Any] | None = None


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
    created_at: datetime
    updated_at: datetime

    @model_serializer(mode="wrap")
    def _kind_fields_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A tracking source has no url/verification/mapping, a webhook no key hint."""
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None or key in _ALWAYS}


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
    status: Literal["accepted", "rejected"]
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


def _api_error(exc: SourceError | IngestError) -> ApiError:
    return ApiError(exc.status, exc.message, code=exc.code, details=exc.details)


@router.post("", status_code=201)
async def create(body: SourceIn, request: Request, principal: Writer) -> CreatedSourceOut:
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            created = await create_source(
                tx,
                hub.keyring,
                kind=body.kind,
                name=body.name,
                description=body.description,
                enabled=body.enabled,
                verification=body.verification,
                mapping=body.mapping,
                now=hub.clock.now(),
            )
            await hub.audit(
                tx,
                principal,
                "source.created",
                target_type="source",
                target_id=created.source.id,
                details={"name": created.source.name, "kind": created.source.kind},
            )
    except SourceError as exc:
        raise _api_error(exc) from exc
    hub.ingest.invalidate()
    secret = next(iter(created.generated_secrets.values()), None)
    return CreatedSourceOut(
        **_out(request, created.source).model_dump(), write_key=created.write_key, secret=secret
    )


@router.get("")
async def list_all(
    request: Request,
    _: Reader,
    kind: Literal["tracking", "webhook"] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[SourceOut]:
    hub = _hub(request)
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        found = await list_sources(
            connection, kind=kind, limit=size + 1, after=str(after) if after else None
        )
    more = len(found) > size
    found = found[:size]
    return Page(
        data=[_out(request, source) for source in found],
        next_cursor=encode_cursor(found[-1].id) if more and found else None,
    )


@router.get("/{source_id}")
async def get_one(source_id: str, request: Request, _: Reader) -> SourceOut:
    async with _hub(request).database.read() as connection:
        try:
            return _out(request, await get_source(connection, source_id))
        except SourceError as exc:
            raise _api_error(exc) from exc


async def _update(
    request: Request, principal: Principal, source_id: str, changes: SourceChanges, action: str
) -> SourceOut:
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            source = await update_source(tx, hub.keyring, source_id, changes, now=hub.clock.now())
            fields = sorted(name for name, value in asdict(changes).items() if value is not None)
            await hub.audit(
                tx,
                principal,
                action,
                target_type="source",
                target_id=source_id,
                details={"fields": fields},
            )
    except SourceError as exc:
        raise _api_error(exc) from exc
    hub.ingest.invalidate()
    return _out(request, source)


@router.patch("/{source_id}")
async def patch(
    source_id: str, body: SourcePatch, request: Request, principal: Writer
) -> SourceOut:
    changes = SourceChanges(**body.model_dump())
    return await _update(request, principal, source_id, changes, "source.updated")


@router.post("/{source_id}/disable")
async def disable(source_id: str, request: Request, principal: Writer) -> SourceOut:
    changes = SourceChanges(enabled=False)
    return await _update(request, principal, source_id, changes, "source.disabled")


@router.post("/{source_id}/enable")
async def enable(source_id: str, request: Request, principal: Writer) -> SourceOut:
    changes = SourceChanges(enabled=True)
    return await _update(request, principal, source_id, changes, "source.enabled")


@router.delete("/{source_id}", status_code=204)
async def remove(source_id: str, request: Request, principal: Writer) -> Response:
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            await delete_source(tx, source_id)
            await hub.audit(
                tx, principal, "source.deleted", target_type="source", target_id=source_id
            )
    except SourceError as exc:
        raise _api_error(exc) from exc
    hub.ingest.invalidate()
    return Response(status_code=204)


@router.get("/{source_id}/secret")
async def secret(source_id: str, request: Request, principal: Admin) -> dict[str, str]:
    """The write key of a tracking source, or the secret of a webhook source (audited)."""
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            revealed = await reveal_secret(tx, hub.keyring, source_id)
            await hub.audit(
                tx, principal, "source.secret_revealed", target_type="source", target_id=source_id
            )
    except SourceError as exc:
        raise _api_error(exc) from exc
    return revealed


@router.post("/{source_id}/secret/rotate")
async def rotate(
    source_id: str, request: Request, principal: Admin, body: RotateIn | None = None
) -> dict[str, str]:
    """A new write key (the old one stops working at once) or a new verification secret."""
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            rotated = await rotate_secret(
                tx,
                hub.keyring,
                source_id,
                now=hub.clock.now(),
                secret=body.secret if body else None,
            )
            await hub.audit(
                tx, principal, "source.secret_rotated", target_type="source", target_id=source_id
            )
    except SourceError as exc:
        raise _api_error(exc) from exc
    hub.ingest.invalidate()
    return rotated


@router.get("/{source_id}/requests")
async def requests(
    source_id: str,
    request: Request,
    _: Reader,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[RequestOut]:
    """Raw requests this webhook source received (verified ones only), newest first."""
    hub = _hub(request)
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    async with hub.database.read() as connection:
        try:
            await get_source(connection, source_id)
        except SourceError as exc:
            raise _api_error(exc) from exc
        rows = await inbound.list_requests(
            connection, source_id, limit=size + 1, before=str(before) if before else None
        )
    more = len(rows) > size
    rows = rows[:size]
    return Page(
        data=[RequestOut(**inbound.request_dict(row)) for row in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )


@router.get("/{source_id}/requests/{request_id}")
async def request_detail(
    source_id: str, request_id: str, request: Request, _: Reader
) -> RequestOut:
    async with _hub(request).database.read() as connection:
        try:
            row = await inbound.get_request(connection, source_id, request_id)
        except inbound.RequestNotFound as exc:
            raise NotFound("request", request_id) from exc
    return RequestOut(**inbound.request_dict(row, with_body=True))


@router.post("/{source_id}/requests/{request_id}/replay")
async def replay(source_id: str, request_id: str, request: Request, principal: Writer) -> ReplayOut:
    """Map a stored request again (with the current mapping) and store its events."""
    hub = _hub(request)
    service: IngestService = hub.ingest
    try:
        events, fresh = await inbound.replay_request(service, source_id, request_id)
    except inbound.RequestNotFound as exc:
        raise NotFound("request", request_id) from exc
    except (SourceError, IngestError) as exc:
        raise _api_error(exc) from exc
    except Overloaded as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": str(exc.retry_after)}) from exc
    except StorageUnavailable as exc:
        raise ApiError(
            503,
            "the database is unreachable",
            code="database_unavailable",
            headers={"Retry-After": "5"},
        ) from exc
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            principal,
            "source.request_replayed",
            target_type="source",
            target_id=source_id,
            details={"request_id": request_id, "events": len(events)},
        )
    return ReplayOut(event_ids=[event.id for event in events], stored=len(fresh))
