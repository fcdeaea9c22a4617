"""Dashboard sessions: a random cookie value names a row that holds hashes only.

The cookie's value is 32 random bytes; the row is keyed by its SHA-256 and keeps the SHA-256
of the API token that opened it (as ``api_tokens`` does), so neither the database nor the
cookie ever holds a token. Every request looks the token up again by that hash: revoking
the token closes its sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.dashboard import dashboard_sessions


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class StoredSession:
    token_hash: str
    token_id: str
    expires_at: datetime


async def open_session(
    connection: AsyncConnection,
    *,
    token_hash: str,
    token_id: str,
    now: datetime,
    lifetime: timedelta,
) -> tuple[str, datetime]:
    """A new session's cookie value and expiry; expired sessions are swept on the way."""
    await connection.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now)
    )
    session_id = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    await connection.execute(
        insert(dashboard_sessions).values(
            id_hash=_hash(session_id),
            token_hash=token_hash,
            token_id=token_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return session_id, expires_at


async def find_session(
    connection: AsyncConnection, session_id: str, *, now: datetime
) -> StoredSession | None:
    row = (
        await connection.execute(
            select(
                dashboard_sessions.c.token_hash,
                dashboard_sessions.c.token_id,
                dashboard_sessions.c.expires_at,
            ).where(
                dashboard_sessions.c.id_hash == _hash(session_id),
                dashboard_sessions.c.expires_at > now,
            )
        )
    ).first()
    return None if row is None else StoredSession(row.token_hash, row.token_id, row.expires_at)


async def close_session(connection: AsyncConnection, session_id: str) -> bool:
    result = await connection.execute(
        delete(dashboard_sessions).where(dashboard_sessions.c.id_hash == _hash(session_id))
    )
    return bool(result.rowcount)


def csrf_token(session_id: str) -> str:
    """The session's CSRF token: derived from the cookie, so it needs no storage, and one
    way, so a page that shows it gives the cookie away to no one."""
    return hashlib.sha256(f"renkei-csrf:{session_id}".encode()).hexdigest()
