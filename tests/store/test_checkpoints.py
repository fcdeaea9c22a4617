"""WAL checkpoints run on their own thread, not inside the writer's commits."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from renkei.store.checkpoints import WalCheckpointer
from renkei.store.database import Database

PAGE = 4096


def _writer(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE IF NOT EXISTS blobs (body BLOB)")
    return connection


def _write_pages(connection: sqlite3.Connection, pages: int) -> None:
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany("INSERT INTO blobs VALUES (?)", [(b"x" * PAGE,)] * pages)
    connection.execute("COMMIT")


def _wait_for(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_commits_land_in_the_database_file_without_the_writer_checkpointing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal.db"
    writer = _writer(path)
    _write_pages(writer, 500)
    assert path.stat().st_size < 100 * PAGE  # the pages are in the WAL only
    checkpointer = WalCheckpointer(str(path), busy_interval=0.01, idle_interval=0.05)
    checkpointer.start()
    try:
        assert _wait_for(lambda: path.stat().st_size > 500 * PAGE)
        _write_pages(writer, 500)  # and it goes on copying later commits
        assert _wait_for(lambda: path.stat().st_size > 1000 * PAGE)
    finally:
        checkpointer.stop()
        writer.close()
    assert not checkpointer.running


def test_stop_copies_what_is_left(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    writer = _writer(path)
    checkpointer = WalCheckpointer(str(path), busy_interval=60, idle_interval=60)
    checkpointer.start()
    checkpointer.start()  # once only
    _write_pages(writer, 300)
    assert path.stat().st_size < 100 * PAGE
    checkpointer.stop()
    writer.close()
    assert path.stat().st_size > 300 * PAGE


async def test_the_write_engine_leaves_checkpoints_to_the_thread(database_url: str) -> None:
    database = Database(database_url)
    if database.checkpointer is None:
        pytest.skip("checkpoints are SQLite's")
    assert not database.checkpointer.running  # started with the first write connection
    try:
        async with database.transaction() as tx:
            setting = (await tx.execute(text("PRAGMA wal_autocheckpoint"))).scalar()
        assert setting == 0
        assert database.checkpointer.running
        async with database.read() as connection:  # readers keep SQLite's default
            assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 1000
    finally:
        await database.dispose()
    assert not database.checkpointer.running
