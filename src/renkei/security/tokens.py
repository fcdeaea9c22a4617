"""API tokens: ``rk_<scope>_<random>``, stored as SHA-256 hashes and shown once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.ids import new_id
from renkei.store.tables import api_tokens

Scope = Literal["admin", "write", "read"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
BOOTSTRAP_TOKEN_ID = "tok_bootstrap"


def scope_allows(granted: str, needed: Scope) -> bool:
    """admin ⊇ write ⊇ read."""
    return granted in SCOPES and SCOPES.index(granted) >= SCOPES.index(needed)  # type: ignore[arg-type]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    scope: Scope


@dataclass(frozen=True)
class IssuedToken:
    id: str
    name: str
    scope: Scope
    token: str
    created_at: datetime


async def create_token(
    connection: AsyncConnection, *, name: str, scope: Scope, now: datetime
) -> IssuedToken:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    token = f"rk_{scope}_{secrets.token_urlsafe(32)}"
    token_id = new_id("tok")
    await connection.execute(
        insert(api_tokens).values(
            id=token_id,
            name=name,
            scope=scope,
            token_hash=hash_token(token),
            prefix=token[:12],
            created_at=now,
        )
    )
    return IssuedToken(token_id, name, scope, token, now)


async def authenticate(
    connection: AsyncConnection, token: str, *, bootstrap_token: str | None
) -> Principal | None:
    return await authenticate_hash(connection, hash_token(token), bootstrap_token=bootstrap_token)


async def authenticate_hash(
    connection: AsyncConnection, token_hash: str, *, bootstrap_token: str | None
) -> Principal | None:
    """The holder of the token whose :func:`hash_token` is ``token_hash`` (a dashboard
    session keeps the hash, never the token, and checks it again on every request)."""
    if bootstrap_token and hmac.compare_digest(token_hash, hash_token(bootstrap_token)):
        return Principal(BOOTSTRAP_TOKEN_ID, "RENKEI_ADMIN_TOKEN", "admin")
    row = (
        await connection.execute(
            select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.scope).where(
                api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return Principal(row.id, row.name, row.scope)


async def revoke_token(connection: AsyncConnection, token_id: str, *, now: datetime) -> bool:
    result = await connection.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


async def count_tokens(connection: AsyncConnection) -> int:
    rows = await connection.execute(
        select(api_tokens.c.id).where(api_tokens.c.revoked_at.is_(None))
    )
    return len(rows.all())


_LISTED = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.scope,
    api_tokens.c.prefix,
    api_tokens.c.created_at,
    api_tokens.c.revoked_at,
)


async def list_tokens(
    connection: AsyncConnection, *, include_revoked: bool = True
) -> list[dict[str, Any]]:
    """Every token, oldest first, without its hash (the API and ``renkei token list``)."""
    query = select(*_LISTED).order_by(api_tokens.c.created_at, api_tokens.c.id)
    if not include_revoked:
        query = query.where(api_tokens.c.revoked_at.is_(None))
    return [row._asdict() for row in await connection.execute(query)]


async def find_tokens(connection: AsyncConnection, ref: str) -> list[dict[str, Any]]:
    """Active tokens whose id is ``ref``, else those named ``ref``."""
    active = select(*_LISTED).where(api_tokens.c.revoked_at.is_(None))
    rows = (await connection.execute(active.where(api_tokens.c.id == ref))).all()
    if not rows:
        rows = (await connection.execute(active.where(api_tokens.c.name == ref))).all()
    return [row._asdict() for row in rows]
