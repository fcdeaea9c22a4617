"""``/api/v1/connections``: configured connectors. Credentials go in and never come out.

The catalog of connectors a connection can use is ``/api/v1/connectors``
(:mod:`renkei.api.v1.connectors`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.errors import ApiError, NotFound
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.api.patching import PatchBody
from renkei.connectors.connections import (
    ConnectionExists,
    ConnectionNotFound,
    ConnectionRow,
    create_connection,
    credential_destinations,
    delete_connection,
    find_connection,
    list_connections,
    update_connection,
)
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
)
from renkei.egress.ssrf import TargetPolicy
from renkei.security.targets import CredentialMove, may_move_credentials
from renkei.security.tokens import Principal

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/connections", tags=["connections"])

Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]


class ConnectionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    connector: str = Field(min_length=1, max_length=64)
    config: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(
        default_factory=dict, description="Stored encrypted; never shown again."
    )
    limits: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the connector's rate_limit, daily_quota, pools, batch_size.",
    )


class ConnectionPatch(PatchBody):
    name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    credentials: dict[str, str | None] | None = Field(
        None, description="Merged into the stored credentials; null removes one."
    )
    limits: dict[str, Any] | None = None


class ConnectionOut(BaseModel):
    id: str
    name: str
    connector: str
    config: dict[str, Any]
    credentials_set: list[str] = Field(description="Names of the credentials stored.")
    limits: dict[str, Any]
    status: str
    last_error: str | None = None
    last_tested_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ConnectionRow) -> ConnectionOut:
        return cls(**row.public())


class SubmissionIn(BaseModel):
    operation: str = Field(min_length=1, max_length=64)
    records: list[Any] = Field(min_length=1, max_length=10_000)
    reply_to: dict[str, Any] | None = None


class CallIn(BaseModel):
    operation: str = Field(min_length=1, max_length=64)
    input: Any = None


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _service(hub: Hub) -> ConnectorService:
    service: ConnectorService = hub.connectors
    return service


def _invalid(exc: ConfigurationError | PermanentError) -> ApiError:
    return ApiError(422, exc.message, code=exc.code or "invalid", details=None)


async def _row(hub: Hub, ref: str) -> ConnectionRow:
    try:
        return await _service(hub).runtime.load(ref)
    except ConnectionNotFound:
        raise NotFound("connection", ref) from None


# --- connections -------------------------------------------------------------------------


@router.post("", status_code=201)
async def create(body: ConnectionIn, request: Request, principal: Writer) -> ConnectionOut:
    hub = _hub(request)
    service = _service(hub)
    try:
        async with hub.database.transaction() as tx:
            row = await create_connection(
                tx,
                keyring=hub.keyring,
                registry=service.registry,
                now=hub.clock.now(),
                name=body.name,
                connector=body.connector,
                config=body.config,
                credentials=body.credentials,
                limits=body.limits,
                policy=TargetPolicy.from_settings(hub.settings),
            )
            await hub.audit(
                tx,
                principal,
                "connection.created",
                target_type="connection",
                target_id=row.id,
                details={"name": row.name, "connector": row.connector},
            )
    except ConfigurationError as exc:
        raise _invalid(exc) from None
    except ConnectionExists as exc:
        raise ApiError(409, str(exc), code="conflict") from None
    return ConnectionOut.of(row)


@router.get("")
async def list_all(
    request: Request,
    _: Reader,
    limit: int | None = Query(None),
    cursor: str | None = Query(None),
) -> Page[ConnectionOut]:
    hub = _hub(request)
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        rows = await list_connections(
            connection, limit=size + 1, after=str(after) if after else None
        )
    more = len(rows) > size
    rows = rows[:size]
    return Page(
        data=[ConnectionOut.of(row) for row in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )


@router.get("/{ref}")
async def get_one(ref: str, request: Request, _: Reader) -> ConnectionOut:
    return ConnectionOut.of(await _row(_hub(request), ref))


@router.patch("/{ref}")
async def patch(
    ref: str, body: ConnectionPatch, request: Request, principal: Writer
) -> ConnectionOut:
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            before = await find_connection(tx, ref)
            row = await update_connection(
                tx,
                ref,
                keyring=hub.keyring,
                registry=_service(hub).registry,
                now=hub.clock.now(),
                name=body.name,
                config=body.config,
                credentials=body.credentials,
                limits=body.limits,
                policy=TargetPolicy.from_settings(hub.settings),
                may_move_credentials=may_move_credentials(principal.scope),
            )
            moved_from = credential_destinations(before.config if before else {})
            moved_to = credential_destinations(row.config)
            if any(moved_from.get(path) != where for path, where in moved_to.items()):
                # Where the credentials go changed: who moved them, from where to where
                # (origins only, never a credential).
                await hub.audit(
                    tx,
                    principal,
                    "connection.target_changed",
                    target_type="connection",
                    target_id=row.id,
                    details={
                        "from": sorted(set(moved_from.values())),
                        "to": sorted(set(moved_to.values())),
                        "given_again": sorted(
                            key for key, value in (body.credentials or {}).items() if value
                        ),
                    },
                )
            changed = sorted(body.model_fields_set)
            await hub.audit(
                tx,
                principal,
                "connection.updated",
                target_type="connection",
                target_id=row.id,
                details={"changed": changed},
            )
    except ConnectionNotFound:
        raise NotFound("connection", ref) from None
    except ConfigurationError as exc:
        raise _invalid(exc) from None
    except ConnectionExists as exc:
        raise ApiError(409, str(exc), code="conflict") from None
    except CredentialMove as move:
        raise ApiError(403, move.message, code=move.code, details=move.details) from None
    return ConnectionOut.of(row)


@router.delete("/{ref}", status_code=204)
async def remove(ref: str, request: Request, principal: Writer) -> Response:
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            row = await delete_connection(tx, ref)
            await hub.audit(
                tx,
                principal,
                "connection.deleted",
                target_type="connection",
                target_id=row.id,
                details={"name": row.name},
            )
    except ConnectionNotFound:
        raise NotFound("connection", ref) from None
    return Response(status_code=204)


@router.post("/{ref}/test")
async def test(ref: str, request: Request, principal: Writer) -> dict[str, Any]:
    """One cheap authenticated call to the vendor. Answers 200 either way; ``ok`` says how
    it went and ``error`` why not."""
    hub = _hub(request)
    row = await _row(hub, ref)
    outcome = await _service(hub).runtime.test(row)
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            principal,
            "connection.tested",
            target_type="connection",
            target_id=row.id,
            details={"ok": outcome["ok"]},
        )
    return outcome


@router.get("/{ref}/usage")
async def usage(ref: str, request: Request, _: Reader) -> dict[str, Any]:
    """Calls in the current rate window, in flight, and used of today's quota."""
    hub = _hub(request)
    row = await _row(hub, ref)
    return {"connection": row.name, **await _service(hub).runtime.usage(row)}


@router.post("/{ref}/submissions", status_code=202)
async def submit(ref: str, body: SubmissionIn, request: Request, _: Writer) -> dict[str, Any]:
    """Queue records for an operation; they go out in batches under the connection's limits.
    Follow them at ``GET .../submissions/{id}``."""
    hub = _hub(request)
    service = _service(hub)
    row = await _row(hub, ref)
    try:
        async with hub.database.transaction() as tx:
            submission_id = await service.submit(
                tx, row.id, body.operation, body.records, reply_to=body.reply_to
            )
    except PermanentError as exc:
        raise _invalid(exc) from None
    return {"id": submission_id, "connection_id": row.id, "operation": body.operation}


@router.get("/{ref}/submissions/{submission_id}")
async def submission(ref: str, submission_id: str, request: Request, _: Reader) -> dict[str, Any]:
    hub = _hub(request)
    row = await _row(hub, ref)
    found = await _service(hub).submission(submission_id)
    if found is None or found.connection_id != row.id:
        raise NotFound("submission", submission_id)
    return found.as_dict()


@router.post("/{ref}/call")
async def call(ref: str, body: CallIn, request: Request, _: Writer) -> dict[str, Any]:
    """Run an operation now, outside the queue (reads and previews), under the same limits."""
    hub = _hub(request)
    row = await _row(hub, ref)
    try:
        result = await _service(hub).runtime.call(row, body.operation, body.input)
    except (RateLimitedError, QuotaExhaustedError) as exc:
        if isinstance(exc, QuotaExhaustedError):
            wait = max(1, int((exc.resets_at - hub.clock.now()).total_seconds()))
        else:
            wait = max(1, round(exc.retry_after or 1))
        raise ApiError(
            429, exc.message, code="vendor_limit", headers={"Retry-After": str(wait)}
        ) from None
    except PermanentError as exc:
        if exc.code in ("invalid_input", "unknown_operation", "batch_too_large"):
            raise _invalid(exc) from None
        raise _vendor_error(exc) from None
    except ConnectorError as exc:
        raise _vendor_error(exc) from None
    return {
        "ok": result.ok,
        "records": [_record(r) for r in result.records],
        "data": result.data,
    }


def _vendor_error(exc: ConnectorError) -> ApiError:
    return ApiError(
        502,
        exc.message,
        code="vendor_error",
        details={"kind": type(exc).__name__, "code": exc.code},
    )


def _record(result: Any) -> dict[str, Any]:
    if result.ok:
        return {"index": result.index, "ok": True, "id": result.id, "status": result.status}
    return {
        "index": result.index,
        "ok": False,
        "error": {"code": result.code, "message": result.message, "retryable": result.retryable},
    }
