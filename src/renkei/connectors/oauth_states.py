"""The ``state`` of OAuth Connect: single use, expiring, bound to one connection and to who
started it. Only its SHA-256 is stored (the value travels through the user's browser and
the vendor and is a bearer secret until used); the PKCE verifier is sealed by the keyring.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.oauth import oauth_states

if TYPE_CHECKING:
    from renkei.security.keyring import Keyring

__all__ = ["ClaimedState", "StateRefused", "claim_state", "create_state"]

VERIFIER_CONTEXT = "oauth_states.code_verifier"
# Expired states are kept this long, so a late callback can say "expired" and not "unknown".
_KEEP_EXPIRED = timedelta(days=1)


@dataclass(frozen=True)
class ClaimedState:
    connection_id: str
    started_by: str
    code_verifier: str | None
    redirect_uri: str
    return_to: str


@dataclass(frozen=True)
class StateRefused:
    reason: Literal["unknown", "used", "expired"]


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


async def create_state(
    tx: AsyncConnection,
    keyring: Keyring,
    *,
    connection_id: str,
    started_by: str,
    code_verifier: str | None,
    redirect_uri: str,
    return_to: str,
    now: datetime,
    ttl: timedelta,
) -> str:
    await tx.execute(delete(oauth_states).where(oauth_states.c.expires_at < now - _KEEP_EXPIRED))
    state = secrets.token_urlsafe(32)
    sealed = (
        keyring.encrypt(code_verifier, context=VERIFIER_CONTEXT)
        if code_verifier is not None
        else None
    )
    await tx.execute(
        oauth_states.insert().values(
            state_hash=_hash(state),
            connection_id=connection_id,
            started_by=started_by[:200],
            code_verifier=sealed,
            redirect_uri=redirect_uri,
            return_to=return_to,
            created_at=now,
            expires_at=now + ttl,
            used_at=None,
        )
    )
    return state


async def claim_state(
    tx: AsyncConnection, keyring: Keyring, state: str, *, now: datetime
) -> ClaimedState | StateRefused:
    """Use ``state`` once: one conditional update, so two callbacks racing with the same
    state cannot both win."""
    digest = _hash(state)
    claimed = (
        await tx.execute(
            update(oauth_states)
            .where(
                oauth_states.c.state_hash == digest,
                oauth_states.c.used_at.is_(None),
                oauth_states.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(
                oauth_states.c.connection_id,
                oauth_states.c.started_by,
                oauth_states.c.code_verifier,
                oauth_states.c.redirect_uri,
                oauth_states.c.return_to,
            )
        )
    ).first()
    if claimed is not None:
        verifier = (
            keyring.decrypt(claimed.code_verifier, context=VERIFIER_CONTEXT)
            if claimed.code_verifier
            else None
        )
        return ClaimedState(
            claimed.connection_id,
            claimed.started_by,
            verifier,
            claimed.redirect_uri,
            claimed.return_to,
        )
    row = (
        await tx.execute(select(oauth_states.c.used_at).where(oauth_states.c.state_hash == digest))
    ).first()
    if row is None:
        return StateRefused("unknown")
    return StateRefused("used" if row.used_at is not None else "expired")
