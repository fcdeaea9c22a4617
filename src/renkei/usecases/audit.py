"""The audit trail, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from renkei.store.tables import audit_log
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["list_audit"]


async def list_audit(
    hub: Hub,
    actor: Actor,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    action: str | None = None,
    target_id: str | None = None,
) -> Listed[dict[str, Any]]:
    """Entries (id, at, actor, action, target_type, target_id, details), newest first;
    ``action`` and ``target_id`` narrow them."""
    require(actor, "admin")
    size = clamp_limit(limit)
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(size + 1)
    if (before := decode_cursor(cursor)) is not None:
        query = query.where(audit_log.c.id < str(before))
    if action:
        query = query.where(audit_log.c.action == action)
    if target_id:
        query = query.where(audit_log.c.target_id == target_id)
    async with hub.database.read() as connection:
        found = [dict(row._mapping) for row in await connection.execute(query)]
    return Listed.cut(found, size, lambda entry: entry["id"])
