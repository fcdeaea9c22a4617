"""Bearer-token authentication and scope checks, as FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import Request

from renkei.api.errors import ApiError
from renkei.security.tokens import Principal, Scope, authenticate, hash_token
from renkei.usecases import access

if TYPE_CHECKING:
    from renkei.hub import Hub


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(request: Request) -> Principal:
    principal = await principal_for(request.app.state.hub, request.headers.get("authorization"))
    request.state.principal = principal
    return principal


async def principal_for(hub: Hub, authorization: str | None) -> Principal:
    """The token holder of an ``Authorization: Bearer ...`` header (cached briefly)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token: send Authorization: Bearer <token>")
    secret = token.strip()

    async def read(_: str) -> Principal | None:
        async with hub.database.read() as connection:
            return await authenticate(connection, secret, bootstrap_token=hub.settings.admin_token)

    principal = await hub.token_cache.get(hash_token(secret), read)
    if principal is None:
        raise _unauthorized("invalid or revoked token")
    return principal


def check_scope(principal: Principal, scope: Scope) -> None:
    """The route refuses before its body is validated; the use case applies the same rule."""
    access.require(principal, scope)


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        check_scope(principal, scope)
        return principal

    return dependency
