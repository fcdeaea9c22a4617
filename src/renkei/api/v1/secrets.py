"""``/api/v1/secrets``: named secrets for flows (``{{ secrets.NAME }}``), admin only.

Values go in and never come out: answers, listings and audit entries carry the name,
description and dates only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from renkei.api.auth import require
from renkei.api.errors import ApiError, NotFound
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.flows.secrets import (
    MAX_VALUE,
    Secret,
    SecretExists,
    SecretInvalid,
    create_secret,
    delete_secret,
    find_secret,
    list_secrets,
    put_secret,
)
from renkei.security.tokens import Principal

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/secrets", tags=["secrets"])
Admin = Annotated[Principal, Depends(require("admin"))]


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    value: str = Field(min_length=1, max_length=MAX_VALUE, repr=False)
    description: str = Field("", max_length=2000)


class SecretPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str | None = Field(None, min_length=1, max_length=MAX_VALUE, repr=False)
    description: str | None = Field(None, max_length=2000)


class SecretOut(BaseModel):
    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


def _out(secret: Secret) -> SecretOut:
    return SecretOut(**secret.to_dict())


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@router.post("", status_code=201)
async def create(body: SecretIn, request: Request, principal: Admin) -> SecretOut:
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            secret = await create_secret(
                tx,
                hub.keyring,
                name=body.name,
                value=body.value,
                description=body.description,
                now=hub.clock.now(),
            )
            await hub.audit(
                tx,
                principal,
                "secret.created",
                target_type="secret",
                target_id=secret.id,
                details={"name": secret.name},
            )
    except SecretExists as exc:
        raise ApiError(409, str(exc), code="conflict") from None
    except SecretInvalid as exc:
        raise ApiError(422, str(exc), code="invalid_secret") from None
    return _out(secret)


@router.get("")
async def list_all(
    request: Request, _: Admin, limit: int | None = None, cursor: str | None = None
) -> Page[SecretOut]:
    hub = _hub(request)
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        found = await list_secrets(
            connection, limit=size + 1, after=after if isinstance(after, str) else None
        )
    more = len(found) > size
    page = found[:size]
    return Page(
        data=[_out(s) for s in page], next_cursor=encode_cursor(page[-1].name) if more else None
    )


@router.get("/{name}")
async def read(name: str, request: Request, _: Admin) -> SecretOut:
    hub = _hub(request)
    async with hub.database.read() as connection:
        secret = await find_secret(connection, name)
    if secret is None:
        raise NotFound("secret", name)
    return _out(secret)


@router.put("/{name}")
async def replace(name: str, body: SecretPut, request: Request, principal: Admin) -> SecretOut:
    """Create, or set a new value (a rotation) and/or description."""
    hub = _hub(request)
    try:
        async with hub.database.transaction() as tx:
            secret, created = await put_secret(
                tx,
                hub.keyring,
                name=name,
                value=body.value,
                description=body.description,
                now=hub.clock.now(),
            )
            await hub.audit(
                tx,
                principal,
                "secret.created" if created else "secret.updated",
                target_type="secret",
                target_id=secret.id,
                details={"name": secret.name, "value_changed": body.value is not None},
            )
    except SecretInvalid as exc:
        raise ApiError(422, str(exc), code="invalid_secret") from None
    return _out(secret)


@router.delete("/{name}", status_code=204)
async def remove(name: str, request: Request, principal: Admin) -> None:
    hub = _hub(request)
    async with hub.database.transaction() as tx:
        secret = await find_secret(tx, name)
        if secret is None or not await delete_secret(tx, name):
            raise NotFound("secret", name)
        await hub.audit(
            tx,
            principal,
            "secret.deleted",
            target_type="secret",
            target_id=secret.id,
            details={"name": name},
        )
