"""Telling other processes that something changed, where the database can carry it.

PostgreSQL has ``LISTEN``/``NOTIFY``; SQLite has nothing between processes, so there a
notification is nothing and a listener never hears one. Callers must therefore treat a
notification as a hint that shortens a wait, never as the only way to learn of a change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.database import Database

__all__ = ["ChannelListener", "notify"]

log = structlog.get_logger("renkei.store")


async def notify(connection: AsyncConnection, channel: str) -> None:
    """Notify ``channel``'s listeners when the transaction commits (``channel``: a fixed
    identifier, never user input)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text(f"NOTIFY {channel}"))


class ChannelListener:
    """Holds one connection that listens on ``channel`` and calls ``on_notify`` for each
    notification; does nothing where the database cannot notify."""

    def __init__(self, database: Database, channel: str, on_notify: Callable[[], None]) -> None:
        self.database = database
        self.channel = channel
        self.on_notify = on_notify
        self._connection: AsyncConnection | None = None

    async def start(self) -> None:
        if self.database.is_sqlite:
            return
        try:
            self._connection = await self.database.writer.connect()
            raw = await self._connection.get_raw_connection()
            await raw.driver_connection.add_listener(self.channel, self._heard)  # type: ignore[union-attr]
        except Exception:
            log.warning("store.listen_failed", channel=self.channel, exc_info=True)
            await self.stop()

    def _heard(self, *_: Any) -> None:
        self.on_notify()

    async def stop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.invalidate()
                await self._connection.close()
            self._connection = None
