"""Private PostgreSQL servers for tests: the suite's own cluster, and throwaway ones for
tests that stop and start the database.

The suite does not use the machine's PostgreSQL by default. Every PostgreSQL test gets a
fresh database copied from a migrated template, and each copy is about 11 MB of new files:
on a shared server with ``fsync`` on, the checkpoints that follow spent 20 to 30 s at a time
syncing thousands of files, and the disk stalls made unrelated tests time out. Each test
process therefore starts a cluster of its own from the installed PostgreSQL binaries, with
durability settings no production server would use (``fsync``, ``full_page_writes`` and
``synchronous_commit`` off) and no autovacuum (its launcher visits each of the hundreds of
short-lived test databases in turn); nothing else changed: the same server, the same SQL.
``RENKEI_TEST_PG_URL`` points the suite at another server instead.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.server import free_port


def _installed_bin() -> Path:
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    return installed[-1].parent if installed else Path("/usr/lib/postgresql/15/bin")


PG_BIN = Path(os.environ.get("RENKEI_TEST_PG_BIN") or _installed_bin())
_FAST = ("fsync=off", "full_page_writes=off", "synchronous_commit=off", "autovacuum=off")


class PrivatePostgres:
    def __init__(self, *settings: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="renkei-pg-"))
        self.datadir = self.root / "data"
        self.settings = settings or ("fsync=off",)
        self.port = free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True)

    def init(self) -> PrivatePostgres:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U", "postgres")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} " + " ".join(
            f"-c {setting}" for setting in self.settings
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_suite_cluster: PrivatePostgres | None = None
_OWNER = "owner.pid"


def _owner_alive(root: Path) -> bool:
    try:
        os.kill(int((root / _OWNER).read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def _reap_orphans() -> None:
    """Remove suite clusters whose test process died without its exit handlers (killed,
    timed out): they would keep running, and their files, for ever."""
    for root in Path(tempfile.gettempdir()).glob("renkei-pg-*"):
        if (root / _OWNER).exists() and not _owner_alive(root):
            orphan = PrivatePostgres.__new__(PrivatePostgres)
            orphan.root, orphan.datadir = root, root / "data"
            orphan._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            orphan.destroy()


def suite_admin_url() -> str:
    """The ``postgres`` database of the server PostgreSQL tests use: ``RENKEI_TEST_PG_URL``,
    or this process's own cluster, started on first use and removed at exit."""
    global _suite_cluster
    configured = os.environ.get("RENKEI_TEST_PG_URL")
    if configured:
        return configured
    if _suite_cluster is None:
        _reap_orphans()
        cluster = PrivatePostgres(*_FAST, "max_connections=300").init()
        (cluster.root / _OWNER).write_text(str(os.getpid()))
        atexit.register(cluster.destroy)
        for _ in range(3):  # another process may take the free port first
            try:
                cluster.start()
                break
            except subprocess.CalledProcessError:
                cluster.port = free_port()
        else:
            cluster.start()
        _suite_cluster = cluster
    return _suite_cluster.url


def destroy_suite_cluster() -> None:
    """Stop and remove this process's cluster now: pytest-xdist's workers leave without
    running exit handlers, and their clusters would run on until the next run reaps them."""
    global _suite_cluster
    if _suite_cluster is not None:
        _suite_cluster.destroy()
        _suite_cluster = None


def suite_host_port() -> str:
    """``host:port`` of :func:`suite_admin_url`, for URLs built by hand."""
    authority = suite_admin_url().split("@", 1)[-1]
    return authority.split("/", 1)[0]


def suite_server_is_ours() -> bool:
    return _suite_cluster is not None and not os.environ.get("RENKEI_TEST_PG_URL")
