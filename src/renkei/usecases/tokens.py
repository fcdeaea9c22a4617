"""API tokens: create (the token is shown once), list (never the token: its first
characters), revoke (it stops working within seconds)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.errors import Conflict, Invalid, NotFound
from renkei.security import tokens
from renkei.security.tokens import SCOPES, IssuedToken, Scope
from renkei.usecases.access import Actor, require
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["create_token", "list_tokens", "revoke_token"]


async def create_token(
    hub: Hub, actor: Actor, *, name: str, scope: Scope, via: str | None = None
) -> IssuedToken:
    require(actor, "admin")
    if scope not in SCOPES:
        raise Invalid(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    async with hub.database.transaction() as tx:
        issued = await tokens.create_token(tx, name=name, scope=scope, now=hub.clock.now())
        await hub.audit(
            tx,
            actor,
            "token.created",
            target_type="token",
            target_id=issued.id,
            details=with_via(via, {"name": name, "scope": scope}),
        )
    return issued


async def list_tokens(
    hub: Hub, actor: Actor, *, include_revoked: bool = True
) -> list[dict[str, Any]]:
    """Oldest first: id, name, scope, prefix, created_at, revoked_at (never the hash)."""
    require(actor, "admin")
    async with hub.database.read() as connection:
        return await tokens.list_tokens(connection, include_revoked=include_revoked)


async def revoke_token(
    hub: Hub, actor: Actor, ref: str, *, by_name: bool = False, via: str | None = None
) -> str:
    """Revoke the active token ``ref`` (``by_name``: its id, or its name when unique);
    returns its id."""
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        token_id = ref
        if by_name:
            matches = await tokens.find_tokens(tx, ref)
            if len(matches) > 1:
                ids = ", ".join(match["id"] for match in matches)
                raise Conflict(f"several tokens are named {ref}: {ids}; revoke one by id")
            token_id = str(matches[0]["id"]) if matches else ref
        if not await tokens.revoke_token(tx, token_id, now=hub.clock.now()):
            raise NotFound("token", ref)
        await hub.audit(
            tx,
            actor,
            "token.revoked",
            target_type="token",
            target_id=token_id,
            details=with_via(via),
        )
    hub.token_cache.clear()
    return token_id
