"""Named locks held by a write transaction until it ends."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["lock_until_commit"]


async def lock_until_commit(connection: AsyncConnection, name: str) -> None:
    """Make this write transaction the only one working on ``name`` until it ends: a
    transaction-level advisory lock where the database has many writers, nothing where it
    has one (its write transactions are exclusive already)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(name)}
        )


def _advisory_key(name: str) -> int:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
