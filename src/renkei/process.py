"""Tuning for a long-running Renkei process (``renkei serve``, ``renkei worker``)."""

from __future__ import annotations

import gc
import mmap
import socket
import sys

__all__ = [
    "SharedFlag",
    "listening_socket",
    "settle_garbage_collector",
    "share_the_gil_sooner",
    "tune_long_running_process",
]

_YOUNG_THRESHOLD = 20_000  # Python's default is 700 allocations
_GIL_SWITCH_INTERVAL = 0.0001  # seconds; Python's default is 0.005


def tune_long_running_process() -> None:
    """Everything below; call once, after start-up."""
    settle_garbage_collector()
    share_the_gil_sooner()


def settle_garbage_collector() -> None:
    """Keep the objects of start-up (modules, routes, compiled statements: hundreds of
    thousands) out of every later collection, and collect the young generation less often.

    A collection of the oldest generation walks every tracked object; with start-up's
    objects in it, the collections that parsing one 100-event batch sets off cost more
    than the parsing (measured: 650 µs against 100 µs per request).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def share_the_gil_sooner() -> None:
    """Let a thread waiting for the GIL have it after 0.1 ms instead of 5 ms.

    The embedded database's big writes (ingest's inserts and commits) run on a helper
    thread, where its driver lets go of the GIL, so they overlap with the event loop's work.
    But the helper needs the GIL for a moment before and after each call, and a busy event loop
    keeps it for the whole switch interval: at the default, the helper waited up to 5 ms
    twice per call and the two threads took turns instead of working together. Threads
    that do not wait for the GIL are not affected.
    """
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, for uvicorn to serve on.

    Bound before the process says it is listening, so a taken port is an ``OSError`` here
    rather than a "listening on" line followed by uvicorn's failure.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class SharedFlag:
    """A yes/no that a process and the processes it forks afterwards all see (one byte of
    shared memory): ``renkei serve`` says there that the schema is migrated, so a child
    forked after that (a replacement) starts without touching the database."""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, 1)  # anonymous and shared: inherited across fork

    def set(self) -> None:
        self._memory[0] = 1

    def is_set(self) -> bool:
        return self._memory[0] == 1
