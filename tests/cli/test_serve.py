"""``renkei serve`` as a user runs it: a real process, real HTTP, a real database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import PrivatePostgres
from tests.support.server import free_port

RENKEI = [sys.executable, "-m", "renkei"]
pytestmark = pytest.mark.slow


def wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


class Served:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / "serve.log"
        self.process = subprocess.Popen(
            [*RENKEI, "serve", "--port", str(self.port)],
            env=env,
            cwd=cwd,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: httpx.get(f"{self.url}/healthz").status_code == 200)
        # One child answering is not all of them: a child still starting when a test takes
        # the database away fails its start, so wait until every child's worker runs.
        wait_for(self._every_child_started)

    def _every_child_started(self) -> bool:
        log = self.log.read_text()
        return log.count('"worker.started"') >= max(1, log.count('"supervisor.child_started"'))

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*RENKEI, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, check=True
        )
        return done.stdout

    def stop(self) -> bool:
        """SIGTERM, then True when the process shut down cleanly (uvicorn re-raises the signal)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        log = self.log.read_text()
        return (
            code in (0, -signal.SIGTERM)
            and "worker.stopped" in log
            and "Application shutdown complete" in log
        )


@contextmanager
def serve(tmp_path: Path, database_url: str) -> Iterator[Served]:
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_LOG_FORMAT": "json",
        # `renkei serve` records its data directory there: not in the real home.
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("RENKEI_ADMIN_TOKEN", None)
    served = Served(env, tmp_path)
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres().init()
    postgres.start()
    yield postgres
    postgres.destroy()


def test_serve_on_sqlite_first_start(tmp_path: Path) -> None:
    with serve(tmp_path, "sqlite:///./renkei.db") as served:
        log = served.log.read_text()
        assert f"listening on http://127.0.0.1:{served.port}" in log
        assert "renkei token create --name admin --scope admin" in log
        unauthenticated = httpx.get(f"{served.url}/api/v1/tokens")
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"]["code"] == "unauthorized"

        token = served.cli("token", "create", "--name", "admin", "--scope", "admin").strip()
        listed = httpx.get(
            f"{served.url}/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}
        )
        assert listed.status_code == 200
        assert (tmp_path / "renkei.db").exists()
        assert (tmp_path / "renkei-secret.key").exists()
        assert served.stop(), served.log.read_text()[-4000:]


def test_readyz_follows_postgresql_going_down_and_up(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    with serve(tmp_path, private_postgres.url) as served:
        ready = f"{served.url}/readyz"

        def status() -> int:
            return httpx.get(ready).status_code

        assert httpx.get(ready).status_code == 200

        private_postgres.stop()
        wait_for(lambda: status() == 503)
        down = httpx.get(ready)
        assert down.json()["error"]["code"] == "database_unavailable"
        assert httpx.get(f"{served.url}/healthz").status_code == 200
        assert httpx.get(f"{served.url}/api/v1/tokens").status_code == 401

        private_postgres.start()
        wait_for(lambda: status() == 200)
        assert served.stop(), served.log.read_text()[-4000:]


def test_version_and_migrate(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": "sqlite:///./renkei.db",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    version = subprocess.run(
        [*RENKEI, "version"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert version.stdout.startswith("renkei 0.")
    migrated = subprocess.run(
        [*RENKEI, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "database is at revision" in migrated.stdout
