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
from renkei.api.pagination import Page
from renkei.api.patching import PatchBody
from renkei.connectors.connections import ConnectionRow
from renkei.security.tokens import Principal
from renkei.usecases import connections, munchkin

if TYPE_CHECKING:
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


# --- connections -------------------------------------------------------------------------


@router.post("", status_code=201)
async def create(body: ConnectionIn, request: Request, principal: Writer) -> ConnectionOut:
    row = await connections.create_connection(
        _hub(request),
        principal,
        name=body.name,
        connector=body.connector,
        config=body.config,
        credentials=body.credentials,
        limits=body.limits,
    )
    return ConnectionOut.of(row)


@router.get("")
async def list_all(
    request: Request,
    principal: Reader,
    limit: int | None = Query(None),
    cursor: str | None = Query(None),
) -> Page[ConnectionOut]:
    listed = await connections.list_connections(
        _hub(request), principal, limit=limit, cursor=cursor
    )
    return Page(data=[ConnectionOut.of(row) for row in listed], next_cursor=listed.next_cursor)


@router.get("/{ref}")
async def get_one(ref: str, request: Request, principal: Reader) -> ConnectionOut:
    return ConnectionOut.of(await connections.get_connection(_hub(request), principal, ref))


@router.patch("/{ref}")
async def patch(
    ref: str, body: ConnectionPatch, request: Request, principal: Writer
) -> ConnectionOut:
    row = await connections.update_connection(
        _hub(request),
        principal,
        ref,
        name=body.name,
        config=body.config,
        credentials=body.credentials,
        limits=body.limits,
        changed=list(body.model_fields_set),
    )
    return ConnectionOut.of(row)


@router.delete("/{ref}", status_code=204)
async def remove(ref: str, request: Request, principal: Writer) -> Response:
    await connections.delete_connection(_hub(request), principal, ref)
    return Response(status_code=204)


@router.post("/{ref}/test")
async def test(ref: str, request: Request, principal: Writer) -> dict[str, Any]:
    """One cheap authenticated call to the vendor. Answers 200 either way; ``ok`` says how
    it went and ``error`` why not."""
    return await connections.test_connection(_hub(request), principal, ref)


@router.get("/{ref}/usage")
async def usage(ref: str, request: Request, principal: Reader) -> dict[str, Any]:
    """Calls in the current rate window, in flight, and used of today's quota."""
    return await connections.usage(_hub(request), principal, ref)


@router.get(
    "/{ref}/marketo-hash",
    responses={404: {"description": "No such connection."}},
)
async def marketo_hash(
    ref: str,
    request: Request,
    principal: Writer,
    email: Annotated[str, Query(min_length=1, max_length=320)],
) -> dict[str, str]:
    """``marketo_hash`` for ``email`` (SHA-1 hex of the connection's ``munchkin_private_key``
    followed by the email, as Munchkin's ``associateLead`` expects)."""
    return await munchkin.connection_marketo_hash(_hub(request), principal, ref, email)


@router.post("/{ref}/submissions", status_code=202)
async def submit(
    ref: str, body: SubmissionIn, request: Request, principal: Writer
) -> dict[str, Any]:
    """Queue records for an operation; they go out in batches under the connection's limits.
    Follow them at ``GET .../submissions/{id}``."""
    row, submission_id = await connections.submit(
        _hub(request), principal, ref, body.operation, body.records, reply_to=body.reply_to
    )
    return {"id": submission_id, "connection_id": row.id, "operation": body.operation}


@router.get("/{ref}/submissions/{submission_id}")
async def submission(
    ref: str, submission_id: str, request: Request, principal: Reader
) -> dict[str, Any]:
    found = await connections.get_submission(_hub(request), principal, submission_id, ref=ref)
    return found.as_dict()


@router.post("/{ref}/call")
async def call(ref: str, body: CallIn, request: Request, principal: Writer) -> dict[str, Any]:
    """Run an operation now, outside the queue (reads and previews), under the same limits."""
    result = await connections.call(_hub(request), principal, ref, body.operation, body.input)
    return {
        "ok": result.ok,
        "records": [_record(r) for r in result.records],
        "data": result.data,
    }


def _record(result: Any) -> dict[str, Any]:
    if result.ok:
        return {"index": result.index, "ok": True, "id": result.id, "status": result.status}
    return {
        "index": result.index,
        "ok": False,
        "error": {"code": result.code, "message": result.message, "retryable": result.retryable},
    }
