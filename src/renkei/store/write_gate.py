"""Taking turns at SQLite's write lock between the processes on one file, without polling.

SQLite's own wait for the write lock is a sleep-and-retry (its busy handler: 1, 2, 5, 10 …
ms), and on the inline write connection it would sleep on the event loop's thread. With
several ``renkei serve`` processes on one file, writes are short and constant (ingest's
group commits, claims, results), so each process would spend its time asleep waiting for
a lock that was free again microseconds later. Measured in docs/scaling.md.

The gate is an exclusive ``flock`` on a file beside the processes' notification sockets:
taken without waiting when free (one system call), else waited for on a helper thread,
which the kernel wakes the moment the holder lets go. A writer holds it from ``BEGIN
IMMEDIATE`` to ``COMMIT``/``ROLLBACK``, so ``BEGIN IMMEDIATE`` finds SQLite's lock free
unless a process that does not use the gate holds it (then SQLite's wait applies, as
before). Each process opens the file itself: a ``flock`` held through a descriptor
inherited across ``fork`` would be shared, not exclusive.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

__all__ = ["WriteGate"]

_waiter: ThreadPoolExecutor | None = None
_waiter_pid = 0


def _waiting_thread() -> ThreadPoolExecutor:
    """One thread per process (a process has one write connection per database)."""
    global _waiter, _waiter_pid
    if _waiter is None or _waiter_pid != os.getpid():
        _waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="renkei-write-gate")
        _waiter_pid = os.getpid()
    return _waiter


class WriteGate:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.held = False

    async def enter(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await self._wait()
        self.held = True

    async def _wait(self) -> None:
        waiting: Future[None] = _waiting_thread().submit(fcntl.flock, self._fd, fcntl.LOCK_EX)
        try:
            await asyncio.wrap_future(waiting)
        except asyncio.CancelledError:
            # The thread may still get the lock after we stopped waiting: give it back then.
            waiting.add_done_callback(self._give_back)
            raise

    def _give_back(self, waited: Future[None]) -> None:
        if not waited.cancelled() and waited.exception() is None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def leave(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.held = False
        with contextlib.suppress(OSError):
            os.close(self._fd)  # closing releases a lock still held
