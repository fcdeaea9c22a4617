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
from renkei.api.pagination import Page
from renkei.flows.secrets import MAX_VALUE, Secret
from renkei.security.tokens import Principal
from renkei.usecases import secrets

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
    secret = await secrets.create_secret(
        _hub(request), principal, name=body.name, value=body.value, description=body.description
    )
    return _out(secret)


@router.get("")
async def list_all(
    request: Request, principal: Admin, limit: int | None = None, cursor: str | None = None
) -> Page[SecretOut]:
    listed = await secrets.list_secrets(_hub(request), principal, limit=limit, cursor=cursor)
    return Page(data=[_out(s) for s in listed], next_cursor=listed.next_cursor)


@router.get("/{name}")
async def read(name: str, request: Request, principal: Admin) -> SecretOut:
    return _out(await secrets.get_secret(_hub(request), principal, name))


@router.put("/{name}")
async def replace(name: str, body: SecretPut, request: Request, principal: Admin) -> SecretOut:
    """Create, or set a new value (a rotation) and/or description."""
    secret, _ = await secrets.put_secret(
        _hub(request), principal, name=name, value=body.value, description=body.description
    )
    return _out(secret)


@router.delete("/{name}", status_code=204)
async def remove(name: str, request: Request, principal: Admin) -> None:
    await secrets.delete_secret(_hub(request), principal, name)
