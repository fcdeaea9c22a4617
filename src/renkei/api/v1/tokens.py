"""``/api/v1/tokens``: create (shown once), list (never the token), revoke."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.security.tokens import Principal, Scope
from renkei.usecases import tokens

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])
Admin = Annotated[Principal, Depends(require("admin"))]


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scope: Scope = "read"


class TokenOut(BaseModel):
    id: str
    name: str
    scope: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedTokenOut(BaseModel):
    id: str
    name: str
    scope: str
    token: str = Field(description="Shown once; store it now.")
    created_at: datetime


@router.post("", status_code=201)
async def create(body: TokenIn, request: Request, principal: Admin) -> IssuedTokenOut:
    hub: Hub = request.app.state.hub
    issued = await tokens.create_token(hub, principal, name=body.name, scope=body.scope)
    return IssuedTokenOut(**issued.__dict__)


@router.get("")
async def list_tokens(request: Request, principal: Admin) -> Page[TokenOut]:
    hub: Hub = request.app.state.hub
    return Page(data=[TokenOut(**row) for row in await tokens.list_tokens(hub, principal)])


@router.delete("/{token_id}", status_code=204)
async def revoke(token_id: str, request: Request, principal: Admin) -> None:
    hub: Hub = request.app.state.hub
    await tokens.revoke_token(hub, principal, token_id)
