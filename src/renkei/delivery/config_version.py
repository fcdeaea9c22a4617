"""A version counter for the webhook configuration, shared by every process.

Every change to an endpoint or an event type bumps it in the same transaction; the
in-memory matcher of each process compares it at most once per refresh interval and
reloads when it moved, so a new endpoint receives events within about a second on every
API node.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.webhooks import webhook_config

CHANGED_FLAG = "renkei.webhook_config_changed"


async def bump_version(connection: AsyncConnection) -> None:
    await connection.execute(
        update(webhook_config)
        .where(webhook_config.c.id == 1)
        .values(version=webhook_config.c.version + 1)
    )
    connection.info[CHANGED_FLAG] = True


async def read_version(connection: AsyncConnection) -> int:
    value = (
        await connection.execute(select(webhook_config.c.version).where(webhook_config.c.id == 1))
    ).scalar()
    return int(value or 0)
