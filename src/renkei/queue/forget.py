"""Jobs that name a person (a realtime profile push is keyed on an email), removed when
that person is deleted. The queue owns ``jobs``; callers name the values."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.json_search import holds_string
from renkei.store.tables.core import jobs

__all__ = ["forget_jobs"]

_CHUNK = 50  # values per statement


async def forget_jobs(connection: AsyncConnection, values: Sequence[str]) -> int:
    """Delete the jobs not running now whose payload holds one of ``values`` as a string,
    or whose dedupe key ends with ``:<value>``. A running job keeps its row: the rows it
    works on are gone, so it finds nothing to do. Returns how many went."""
    removed = 0
    for start in range(0, len(values), _CHUNK):
        conditions = []
        for value in values[start : start + _CHUNK]:
            conditions += [
                holds_string(jobs.c.payload, value),
                jobs.c.dedupe_key.endswith(f":{value}", autoescape=True),
            ]
        result = await connection.execute(
            delete(jobs).where(jobs.c.status != "running", or_(*conditions))
        )
        removed += int(result.rowcount or 0)
    return removed
