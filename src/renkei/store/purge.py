"""After a deletion that must leave no trace: empty SQLite's WAL of old page images.

Every SQLite connection runs with ``secure_delete=ON`` (store/database.py): a deleted row's
bytes and a freed page are overwritten with zeros in the database file. The WAL still
holds the pages as they were before, until a checkpoint copies the new ones back and the
WAL is truncated: :func:`purge_deleted` runs that ``TRUNCATE`` checkpoint (it waits for
readers on an older snapshot, up to the busy timeout, and is tried a few times).
PostgreSQL keeps deleted row versions in its heap until VACUUM reuses the space: nothing
here can promise their bytes are gone (docs/privacy.md says what to do).
"""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy.engine import make_url

from renkei.store.database import Database

__all__ = ["purge_deleted"]

_ATTEMPTS = 5
_BUSY_MS = 5000


def _truncate(path: str) -> bool:
    connection = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_MS / 1000)
    try:
        busy, _frames, _copied = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy
    finally:
        connection.close()


async def purge_deleted(database: Database) -> bool:
    """True when nothing deleted survives in the WAL (always, off SQLite's files)."""
    if not database.is_sqlite:
        return True
    path = make_url(database.url).database
    if not path or path == ":memory:":
        return True
    for attempt in range(_ATTEMPTS):
        try:
            if await asyncio.to_thread(_truncate, path):
                return True
        except sqlite3.OperationalError:
            pass  # locked past the busy timeout: try again
        await asyncio.sleep(0.05 * (attempt + 1))
    return False
