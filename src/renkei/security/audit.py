"""The audit trail: who did what to which object. Details are redacted before storing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.ids import new_id
from renkei.security.redaction import redact
from renkei.store.tables import audit_log


async def record(
    connection: AsyncConnection,
    *,
    actor: str,
    action: str,
    at: datetime,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> str:
    entry_id = new_id("aud")
    await connection.execute(
        insert(audit_log).values(
            id=entry_id,
            at=at,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=redact(details or {}),
        )
    )
    return entry_id
