"""``GET /api/v1/connectors`` and ``GET /api/v1/connectors/{name}``: the connector catalog.

Every connector Renkei ships with its operations (input schema, batch size), what syncs
can read and write through it (sync objects, directions), how it authenticates, the
credential and config fields a connection needs (names and descriptions, never values),
its documented limits and quota, and the local sandbox that plays its vendor. Read scope; the catalog holds no account data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.security.tokens import Principal
from renkei.usecases import connections

__all__ = ["ConnectorInfo", "router"]

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"])


class CredentialField(BaseModel):
    """A credential a connection needs: its name, never a value."""

    name: str
    description: str
    required: bool
    secret: bool


class ConfigField(CredentialField):
    default: Any = None


class Window(BaseModel):
    name: str
    calls: int
    per_seconds: float


class OperationInfo(BaseModel):
    name: str
    description: str
    kind: str
    batchable: bool
    max_batch_size: int | None
    input_schema: dict[str, Any]
    limits: list[Window] = []


class Limits(BaseModel):
    rate_limit: dict[str, Any] | None
    rate_limit_pools: dict[str, dict[str, Any]]
    daily_quota: dict[str, Any] | None
    per_operation: dict[str, list[Window]]
    batch_sizes: dict[str, int | None]
    notes: list[str]


class SyncObjectInfo(BaseModel):
    """What a sync can move: ``profiles`` or ``events``, pulled or pushed; a push names
    the operation it writes with and the identity its vendor ids are attached as."""

    name: str
    direction: str
    kind: str
    operation: str | None = None
    identity: str | None = None
    batch_size: int | None = None
    links_by: str | None = None
    """A push that also links people by this cookie identity, realtime (Marketo)."""


class SandboxInfo(BaseModel):
    name: str
    command: str


class ConnectorInfo(BaseModel):
    name: str
    title: str
    docs_url: str
    auth: list[str]
    """How connections authenticate: ``oauth2_authorization_code`` ("Connect"),
    ``oauth2_client_credentials``, ``oauth2_refresh_token``, ``access_token``, ``api_key``,
    ``bearer``, ``basic``, ``webhook_url``."""
    credentials: list[CredentialField]
    config: list[ConfigField]
    operations: list[OperationInfo]
    sync_objects: list[SyncObjectInfo]
    directions: list[str]
    limits: Limits
    sandbox: SandboxInfo | None


@router.get("")
async def get_connectors(
    principal: Annotated[Principal, Depends(require("read"))],
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[ConnectorInfo]:
    listed = connections.catalog(principal, limit=limit, cursor=cursor)
    return Page(
        data=[ConnectorInfo.model_validate(entry) for entry in listed],
        next_cursor=listed.next_cursor,
    )


@router.get("/{name}")
async def get_connector(
    name: str, principal: Annotated[Principal, Depends(require("read"))]
) -> ConnectorInfo:
    return ConnectorInfo.model_validate(connections.connector_entry(principal, name))
