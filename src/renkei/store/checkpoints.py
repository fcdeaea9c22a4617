"""SQLite's WAL checkpoints, on a thread of their own.

In WAL mode a commit appends its pages to the ``-wal`` file, and a checkpoint copies them
back into the database file and syncs both. By default the connection whose commit takes
the WAL past 1,000 pages runs that checkpoint inside the commit: ingest's committer stalled
for 10 to 14 ms every few groups, and on the event loop's thread for small groups. The
write connection therefore turns automatic checkpoints off (``wal_autocheckpoint=0``) and
this thread runs them instead, as ``PASSIVE`` checkpoints: they never wait for a reader or
the writer, they copy what they can. SQLite's own C code does the work, without the GIL.

The thread polls the WAL's size: every ``busy_interval`` while commits keep coming,
slowing down to ``idle_interval`` when nothing changes.
"""

from __future__ import annotations

import sqlite3
import threading

import structlog

__all__ = ["WalCheckpointer"]

log = structlog.get_logger("renkei.store")


class WalCheckpointer:
    def __init__(
        self, path: str, *, busy_interval: float = 0.05, idle_interval: float = 0.25
    ) -> None:
        self.path = path
        self.busy_interval = busy_interval
        self.idle_interval = idle_interval
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread, once; later calls do nothing."""
        with self._lock:
            if self._thread is not None:
                return
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name="renkei-wal-checkpoints", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last checkpoint."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join()

    def checkpoint(self, connection: sqlite3.Connection) -> int:
        """One ``PASSIVE`` checkpoint; returns how many frames the WAL holds."""
        busy, wal_frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(wal_frames) if not busy else -1

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("store.checkpoint_failed", error=repr(exc))
            return
        try:
            last = 0
            interval = self.busy_interval
            while not self._stopping.wait(interval):
                try:
                    frames = self.checkpoint(connection)
                except Exception as exc:  # keep going: the writer no longer checkpoints
                    log.warning("store.checkpoint_failed", error=repr(exc))
                    frames = -1
                interval = self.idle_interval if frames == last else self.busy_interval
                last = frames
            self.checkpoint(connection)
        except sqlite3.Error as exc:
            log.warning("store.checkpoint_failed", error=repr(exc))
        finally:
            connection.close()
