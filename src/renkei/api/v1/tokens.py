"""``/api/v1/tokens``: create (shown once), list (never the token), revoke."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.errors import NotFound
from renkei.api.pagination import Page
from renkei.security import tokens as token_store
from renkei.security.tokens import Principal, Scope, create_token, revoke_token

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
    async with hub.database.transaction() as tx:
        issued = await create_token(tx, name=body.name, scope=body.scope, now=hub.clock.now())
        await hub.audit(
            tx,
            principal,
            "token.created",
            target_type="token",
            target_id=issued.id,
            details={"name": body.name, "scope": body.scope},
        )
    return IssuedTokenOut(**issued.__dict__)


@router.get("")
async def list_tokens(request: Request, _: Admin) -> Page[TokenOut]:
    hub: Hub = request.app.state.hub
    async with hub.database.read() as connection:
        found = await token_store.list_tokens(connection)
    return Page(data=[TokenOut(**row) for row in found])


@router.delete("/{token_id}", status_code=204)
async def revoke(token_id: str, request: Request, principal: Admin) -> None:
    hub: Hub = request.app.state.hub
    async with hub.database.transaction() as tx:
        if not await revoke_token(tx, token_id, now=hub.clock.now()):
            raise NotFound("token", token_id)
        await hub.audit(tx, principal, "token.revoked", target_type="token", target_id=token_id)
    hub.token_cache.clear()
