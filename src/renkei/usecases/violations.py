"""Tracking plan violations: what tracked events did against the plan, grouped by source,
event and problem (``GET /api/v1/violations``, ``renkei violations``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.events import sources as source_service
from renkei.events import violations as service
from renkei.events.violations import Violation
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["list_violations"]


async def list_violations(
    hub: Hub,
    actor: Actor,
    *,
    source: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Listed[Violation]:
    """Violation groups by id, of one source (id or name) or all; this process's counts
    not yet written are written first, so what it just answered shows."""
    require(actor, "read")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    await hub.ingest.violations.flush()
    async with hub.database.read() as connection:
        source_id = None
        if source is not None:
            found = await source_service.get_source_by_name(connection, source)
            if found is None:
                found = await source_service.get_source(connection, source)
            source_id = found.id
        rows = await service.list_violations(
            connection,
            source_id=source_id,
            limit=size + 1,
            after=str(after) if after is not None else None,
        )
    return Listed.cut(rows, size, lambda violation: violation.id)
