"""Signing in to the dashboard with an API token, and out again.

A session acts with the scope of the token that opened it, checked again on every request
(the same lookup and cache as the API's ``Authorization: Bearer``), so a revoked token or a
changed ``RENKEI_ADMIN_TOKEN`` ends its sessions at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from renkei.errors import RenkeiError
from renkei.security.sessions import close_session, find_session, open_session
from renkei.security.tokens import Principal, authenticate_hash, hash_token

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["SESSION_LIFETIME", "SignedIn", "principal_of_session", "sign_in", "sign_out"]

SESSION_LIFETIME = timedelta(hours=8)


class BadToken(RenkeiError):
    status = 401
    default_code = "unauthorized"


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    principal: Principal
    expires_at: datetime


async def _principal(hub: Hub, token_hash: str) -> Principal | None:
    async def read(_: str) -> Principal | None:
        async with hub.database.read() as connection:
            return await authenticate_hash(
                connection, token_hash, bootstrap_token=hub.settings.admin_token
            )

    return await hub.token_cache.get(token_hash, read)


async def sign_in(hub: Hub, token: str, *, via: str = "dashboard") -> SignedIn:
    """Open a session for the holder of ``token``; audited (``dashboard.signed_in``)."""
    token_hash = hash_token(token.strip())
    principal = await _principal(hub, token_hash) if token.strip() else None
    if principal is None:
        raise BadToken("this API token is not valid (mistyped, or revoked)")
    async with hub.database.transaction() as tx:
        session_id, expires_at = await open_session(
            tx,
            token_hash=token_hash,
            token_id=principal.token_id,
            now=hub.clock.now(),
            lifetime=SESSION_LIFETIME,
        )
        await hub.audit(tx, principal, "dashboard.signed_in", details={"via": via})
    return SignedIn(session_id, principal, expires_at)


async def principal_of_session(hub: Hub, session_id: str) -> Principal | None:
    """Who a session acts for, or None when it expired, was closed or its token revoked."""
    async with hub.database.read() as connection:
        stored = await find_session(connection, session_id, now=hub.clock.now())
    if stored is None:
        return None
    return await _principal(hub, stored.token_hash)


async def sign_out(hub: Hub, session_id: str, principal: Principal) -> None:
    async with hub.database.transaction() as tx:
        if await close_session(tx, session_id):
            await hub.audit(tx, principal, "dashboard.signed_out")
