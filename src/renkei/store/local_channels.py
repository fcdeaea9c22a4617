"""Notifications between processes sharing one SQLite file, which has no ``NOTIFY``.

Each listener binds a Unix datagram socket ``<channel>.<pid>.<n>`` in a directory named
after the database file (in the temporary directory: a socket's path must stay short); a
notifier sends one byte to every socket there but its own process's. A socket left behind
by a killed process refuses the byte and is removed; a full socket buffer means that
listener has a wake-up pending already. Lossy on purpose, like ``NOTIFY``: a listener that
misses one learns of the change by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["LocalListener", "LocalNotifier", "rendezvous"]

# How long a notifier trusts its list of listeners: a listener that starts is heard from
# within this (and polls meanwhile). Listing a small directory costs microseconds.
_RELIST_SECONDS = 0.25
_numbers = itertools.count()


def rendezvous(database_file: Path) -> Path:
    """The directory where the processes on ``database_file`` meet (created, private)."""
    digest = hashlib.sha256(str(database_file.resolve()).encode()).hexdigest()[:16]
    directory = Path(tempfile.gettempdir()) / f"renkei-{os.getuid()}" / digest
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


class LocalListener:
    """Calls ``on_notify`` on the running loop when another process notifies ``channel``."""

    def __init__(self, directory: Path, channel: str, on_notify: Callable[[], None]) -> None:
        self.path = directory / f"{channel}.{os.getpid()}.{next(_numbers)}"
        self.on_notify = on_notify
        self._socket: socket.socket | None = None

    def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a previous process with this pid left it
        sock.bind(str(self.path))
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)
        self._socket = sock

    def _drain(self) -> None:
        assert self._socket is not None
        heard = False
        with contextlib.suppress(BlockingIOError):
            while self._socket.recv(16):
                heard = True
        if heard:
            self.on_notify()

    def stop(self) -> None:
        if self._socket is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
        self._socket.close()
        self._socket = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class LocalNotifier:
    """Sends ``channel``'s notification to the listeners of the other processes."""

    def __init__(self, directory: Path, channel: str) -> None:
        self.directory = directory
        self.channel = channel
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._peers: list[str] = []
        self._listed_at = -_RELIST_SECONDS

    def send(self) -> None:
        if time.monotonic() - self._listed_at >= _RELIST_SECONDS:
            self._list()
        for peer in self._peers:
            try:
                self._socket.sendto(b"!", peer)
            except ConnectionRefusedError:
                with contextlib.suppress(OSError):
                    os.unlink(peer)  # its process is gone
                self._listed_at = -_RELIST_SECONDS
            except OSError:
                pass  # a full buffer (a wake-up is pending) or a listener that just left

    def _list(self) -> None:
        mine = f"{self.channel}.{os.getpid()}."
        theirs = f"{self.channel}."
        try:
            names = os.listdir(self.directory)
        except OSError:
            names = []
        self._peers = [
            str(self.directory / name)
            for name in names
            if name.startswith(theirs) and not name.startswith(mine)
        ]
        self._listed_at = time.monotonic()

    def close(self) -> None:
        self._socket.close()
