"""One counter of configuration changes, shared by every process.

Every transaction that changes what an in-memory catalog holds (an endpoint, an event type,
a flow) bumps it; each process's catalogs compare it at most once per refresh interval and
reload when it moved, so a change shows on every API node within about a second. A change
made through this process sets ``CHANGED_FLAG`` on the connection, and the catalogs
registered for it (``Database.on_commit``) reload at its commit.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.core import config_version

__all__ = ["CHANGED_FLAG", "bump_version", "read_version"]

CHANGED_FLAG = "renkei.config_changed"


async def bump_version(connection: AsyncConnection) -> None:
    await connection.execute(
        update(config_version)
        .where(config_version.c.id == 1)
        .values(version=config_version.c.version + 1)
    )
    connection.info[CHANGED_FLAG] = True


async def read_version(connection: AsyncConnection) -> int:
    value = (
        await connection.execute(select(config_version.c.version).where(config_version.c.id == 1))
    ).scalar()
    return int(value or 0)
