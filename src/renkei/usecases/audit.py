"""The audit trail, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from renkei.store.tables import audit_log
from renkei.usecases.access import Actor, require

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["list_audit"]


async def list_audit(
    hub: Hub,
    actor: Actor,
    *,
    limit: int,
    before: str | None = None,
    action: str | None = None,
    target_id: str | None = None,
) -> list[dict[str, Any]]:
    """Entries (id, at, actor, action, target_type, target_id, details), newest first,
    older than the entry ``before``; ``action`` and ``target_id`` narrow them."""
    require(actor, "admin")
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if action:
        query = query.where(audit_log.c.action == action)
    if target_id:
        query = query.where(audit_log.c.target_id == target_id)
    async with hub.database.read() as connection:
        return [dict(row._mapping) for row in await connection.execute(query)]
