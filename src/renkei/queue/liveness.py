"""Who is alive: workers register, heartbeat, and declare each other dead.

A crashed worker's jobs used to wait for their lease (60 s by default) before anyone took
them back. Each running worker now has a row in ``workers`` that it refreshes every
``heartbeat_seconds``; every worker, at start and on each heartbeat, declares dead

- a worker whose heartbeat is older than ``dead_after_seconds`` (any host), and
- a worker of this same host (same boot, same pid namespace) whose process is gone: a
  restarted ``renkei serve`` knows at once that its previous incarnation died,

deletes its row and gives its running jobs back to the queue in the same transaction. A
worker's row is deleted only if its heartbeat is still old when the delete runs, so a
worker that heartbeats in time is never declared dead; one that finds its row gone (it was
stalled longer than ``dead_after_seconds``) stops its running jobs, which others now own,
and registers again. Leases stay as the last resort (a worker that died before this table
existed, a row lost). Heartbeats are wall-clock times, as leases are: workers on several
machines need synchronized clocks.
"""

from __future__ import annotations

import os
import socket
from functools import cache

from sqlalchemy import Column, Integer, String, Table

from renkei.store.tables._metadata import metadata
from renkei.store.types import UTCDateTime

__all__ = ["host_identity", "process_exists", "workers"]

workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("host_key", String(255)),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)


@cache
def host_identity() -> str | None:
    """What makes a pid meaningful: host name, boot and pid namespace. ``None`` where it
    can't be known (no /proc): then only heartbeats tell that a worker is dead."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        pid_namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{socket.gethostname()}|{boot_id}|{pid_namespace}"[:255]


def process_exists(pid: int) -> bool:
    """Whether a process with this pid exists in this pid namespace (a reused pid counts as
    alive: the heartbeat decides then)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
