"""Telling other processes that something changed, where the database can carry it.

PostgreSQL has ``LISTEN``/``NOTIFY``. SQLite has nothing between processes: there the
processes on one file notify each other through Unix datagram sockets
(``local_channels.py``), after the commit (:func:`notify_after_commit`). Either way a
notification can be lost, so callers must treat it as a hint that shortens a wait, never as
the only way to learn of a change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.database import Database
from renkei.store.local_channels import LocalListener, LocalNotifier, rendezvous
from renkei.store.urls import database_file

__all__ = ["ChannelListener", "notify", "notify_after_commit"]

log = structlog.get_logger("renkei.store")


async def notify(connection: AsyncConnection, channel: str) -> None:
    """Notify ``channel``'s listeners when the transaction commits (``channel``: a fixed
    identifier, never user input)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text(f"NOTIFY {channel}"))


def notify_after_commit(
    database: Database, flag: str, channel: str, *, when: Callable[[], bool] | None = None
) -> None:
    """On SQLite, notify ``channel``'s listeners in the other processes on the same file
    after every commit that set ``connection.info[flag]`` (PostgreSQL's ``NOTIFY`` in the
    transaction, :func:`notify`, already does); only when ``when()`` says so, if given."""
    file = database_file(database.url) if database.is_sqlite else None
    if file is None:
        return
    try:
        notifier = LocalNotifier(rendezvous(file), channel)
    except OSError:
        log.warning("store.notify_unavailable", channel=channel, exc_info=True)
        return
    if when is None:
        database.on_commit(flag, notifier.send)
        return

    def send_when_asked() -> None:
        if when():
            notifier.send()

    database.on_commit(flag, send_when_asked)


class ChannelListener:
    """Holds one connection that listens on ``channel`` and calls ``on_notify`` for each
    notification (on SQLite, from the other processes on the same file)."""

    def __init__(self, database: Database, channel: str, on_notify: Callable[[], None]) -> None:
        self.database = database
        self.channel = channel
        self.on_notify = on_notify
        self._connection: AsyncConnection | None = None
        self._local: LocalListener | None = None

    async def start(self) -> None:
        if self.database.is_sqlite:
            file = database_file(self.database.url)
            if file is not None:
                try:
                    self._local = LocalListener(rendezvous(file), self.channel, self.on_notify)
                    self._local.start()
                except OSError:  # e.g. a TMPDIR too long for a socket path: polling only
                    log.warning("store.listen_failed", channel=self.channel, exc_info=True)
                    self._local = None
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
        if self._local is not None:
            self._local.stop()
            self._local = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.invalidate()
                await self._connection.close()
            self._connection = None
