"""What the use-case tests share: a hub on a fresh database (both backends), actors of
each scope, and the audit entries written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from renkei.hub import Hub
from renkei.security.tokens import Principal
from renkei.store.tables import audit_log
from tests.support.server import test_settings

READER = Principal("tok_reader", "reader", "read")
WRITER = Principal("tok_writer", "writer", "write")
ADMIN = Principal("tok_admin", "admin", "admin")


@asynccontextmanager
async def local_hub(database_url: str) -> AsyncIterator[Hub]:
    hub = Hub(test_settings(database_url))
    try:
        yield hub
    finally:
        await hub.stop()


async def audit_entries(hub: Hub, action: str) -> list[dict[str, Any]]:
    async with hub.database.read() as connection:
        rows = await connection.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
        )
        return [dict(row._mapping) for row in rows]
