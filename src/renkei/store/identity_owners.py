"""Which profile owns each identity: ingest's lookup in every group commit, the fastest
way each backend allows."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.chunks import padded_to_few_sizes
from renkei.store.tables.ingest import identities

__all__ = ["identity_owners"]


@functools.lru_cache(maxsize=32)
def _lookup_sql(count: int) -> str:
    head = "SELECT kind, value, profile_id FROM identities WHERE kind = ? AND value IN ("
    return "".join((head, ", ".join(["?"] * count), ")"))


async def identity_owners(
    connection: AsyncConnection, by_kind: Mapping[str, Sequence[str]]
) -> Iterable[Any]:
    """``(kind, value, profile_id)`` of the stored identities among ``by_kind``'s values.

    One statement per kind, its values padded to one of a few sizes: each size is prepared
    once by the driver (SQLite) or the server (PostgreSQL), not one per list length
    (store/chunks.py)."""
    if connection.dialect.name == "sqlite":
        # Straight to the driver: one call instead of SQLAlchemy's four (cursor, execute,
        # fetch, close), in every group commit of ingest (see store/event_writes.py).
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        rows: list[Any] = []
        for kind, values in by_kind.items():
            padded = padded_to_few_sizes(values)
            rows += await driver.execute_fetchall(_lookup_sql(len(padded)), [kind, *padded])
        return rows
    found: list[Any] = []
    for kind, values in by_kind.items():
        query = select(identities.c.kind, identities.c.value, identities.c.profile_id).where(
            identities.c.kind == kind, identities.c.value.in_(padded_to_few_sizes(values))
        )
        found += await connection.execute(query)
    return found
