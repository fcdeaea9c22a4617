"""``renkei serve --processes N``: N real children on one port, a supervisor that replaces a
killed one, and a SIGTERM that stops them all; no acknowledged event is lost either way
(checked by ``webhook-id`` at a real receiver on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from renkei.security.keyring import generate_key
from tests.delivery.webhook_receiver import Receiver, verify, wait_until
from tests.support.server import ADMIN_TOKEN, free_port

pytestmark = pytest.mark.slow
PROCESSES = 2


class Served:
    """``renkei serve --processes 2`` in its own process, logging to ``serve-N.log``."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int, run: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"serve-{run}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "renkei", "serve", "--port", str(port)),
                *("--processes", str(PROCESSES)),
            ],
            env=env,
            cwd=cwd,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self.healthy, timeout=60, interval=0.1)
        wait_until(lambda: len(self.children()) == PROCESSES, timeout=30, interval=0.1)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def children(self) -> set[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in path.read_text().split()}
        except FileNotFoundError:
            return set()

    def workers_started(self) -> set[int]:
        """Pids whose worker said it started (every child runs one)."""
        return {
            int(line.split('"pid": ')[1].split(",")[0].rstrip("}"))
            for line in self.log.read_text().splitlines()
            if '"worker.started"' in line and '"pid": ' in line
        }

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


class Publisher:
    """Threads publishing ``order.paid`` events; remembers what was acknowledged (201)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acknowledged: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._publish) for _ in range(4)]

    def _publish(self) -> None:
        with httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(
                        "/api/v1/events", json={"type": "order.paid", "data": {"n": 1}}
                    )
                except httpx.HTTPError:
                    continue  # a connection the stopping or killed child held
                if response.status_code == 201:
                    with self._lock:
                        self.acknowledged.add(response.json()["id"])

    def __enter__(self) -> Publisher:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)


@contextmanager
def relay(database_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], int, Receiver]]:
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_ADMIN_TOKEN": ADMIN_TOKEN,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
        "RENKEI_LOG_FORMAT": "json",
        "RENKEI_RETRY_SCHEDULE": "0.5,1,2,4",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("RENKEI_PROCESSES", None)
    with Receiver() as receiver:
        yield env, free_port(), receiver


def make_endpoint(served: Served, receiver: Receiver) -> str:
    with httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    ) as client:
        endpoint = client.post("/api/v1/endpoints", json={"name": "crm", "url": receiver.url})
        assert endpoint.status_code == 201, endpoint.text
        return str(client.get(f"/api/v1/endpoints/{endpoint.json()['id']}/secret").json()["key"])


def assert_delivered_once_each(receiver: Receiver, secret: str, acknowledged: set[str]) -> None:
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in receiver.snapshot():
        verify(secret, request)
        bodies[request.webhook_id].add(request.body)
    assert acknowledged <= set(bodies)
    # A duplicate (an attempt in flight in the killed child) is the same signed message.
    assert all(len(variants) == 1 for variants in bodies.values())


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_child_is_replaced_and_every_acknowledged_event_delivered(
    database_url: str, tmp_path: Path
) -> None:
    with relay(database_url, tmp_path) as (env, port, receiver):
        served = Served(env, tmp_path, port, 1)
        try:
            children = served.children()
            assert len(children) == PROCESSES
            wait_until(lambda: served.workers_started() >= children, timeout=30, interval=0.1)
            secret = make_endpoint(served, receiver)

            with Publisher(served.url) as publisher:
                wait_until(lambda: len(receiver.requests) >= 200, timeout=60, interval=0.01)
                victim = min(children)
                os.kill(victim, signal.SIGKILL)
                wait_until(
                    lambda: len(served.children()) == PROCESSES and victim not in served.children(),
                    timeout=30,
                    interval=0.05,
                )
                replacement = served.children() - children
                wait_until(
                    lambda: replacement <= served.workers_started(), timeout=30, interval=0.1
                )
                acknowledged_at_kill = publisher.count()
                wait_until(
                    lambda: publisher.count() >= acknowledged_at_kill + 200,
                    timeout=60,
                    interval=0.01,
                )
            acknowledged = publisher.acknowledged
            wait_until(lambda: acknowledged <= set(receiver.ids()), timeout=60, interval=0.1)
            assert_delivered_once_each(receiver, secret, acknowledged)
            assert "supervisor.child_died" in served.log.read_text()

            survivors = served.children()
            assert served.terminate() == 0, served.log.read_text()[-4000:]
            assert all(gone(pid) for pid in survivors)
        finally:
            if served.process.poll() is None:
                served.process.kill()


def test_sigterm_stops_every_child_and_loses_nothing_acknowledged(
    database_url: str, tmp_path: Path
) -> None:
    with relay(database_url, tmp_path) as (env, port, receiver):
        first = Served(env, tmp_path, port, 1)
        try:
            children = first.children()
            secret = make_endpoint(first, receiver)
            with Publisher(first.url) as publisher:
                wait_until(lambda: len(receiver.requests) >= 200, timeout=60, interval=0.01)
                # Stopped under load: requests and deliveries are in flight in both children.
                assert first.terminate() == 0, first.log.read_text()[-4000:]
            assert all(gone(pid) for pid in children)
            log = first.log.read_text()
            assert log.count('"worker.stopped"') == PROCESSES, log[-4000:]
        finally:
            if first.process.poll() is None:
                first.process.kill()

        acknowledged = publisher.acknowledged
        assert acknowledged
        # What was accepted and not yet sent waits in the database for the next start.
        second = Served(env, tmp_path, port, 2)
        try:
            wait_until(lambda: acknowledged <= set(receiver.ids()), timeout=60, interval=0.1)
        finally:
            second.terminate()
        assert_delivered_once_each(receiver, secret, acknowledged)


def run_supervisor(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "supervised.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)


def test_a_child_that_keeps_dying_young_stops_the_supervisor(tmp_path: Path) -> None:
    done = run_supervisor(
        """
        from renkei.supervisor import supervise

        raise SystemExit(supervise(2, lambda slot: 1))
        """,
        tmp_path,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "supervisor.giving_up" in done.stdout + done.stderr


def test_a_second_sigint_forces_the_children(tmp_path: Path) -> None:
    """A child that would take its time stopping (the first SIGTERM) is stopped by the
    second Ctrl-C: the supervisor passes it on as SIGINT."""
    marker = tmp_path / "ready"
    done = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import os, pathlib, signal, time
            from renkei.supervisor import supervise

            def child(slot):
                signal.signal(signal.SIGTERM, lambda *_: None)  # "draining", for ever
                pathlib.Path({str(marker)!r} + str(slot)).touch()
                while True:
                    time.sleep(0.05)

            raise SystemExit(supervise(2, child))
            """),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: all(Path(f"{marker}{slot}").exists() for slot in range(2)),
            timeout=30,
            interval=0.05,
        )
        done.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert done.poll() is None  # the children ignore SIGTERM: still running
        done.send_signal(signal.SIGINT)
        output, _ = done.communicate(timeout=30)
    finally:
        if done.poll() is None:
            done.kill()
    assert done.returncode == 0, output
    assert '"forwarding": "SIGINT"' in output or "forwarding=SIGINT" in output, output


@pytest.mark.parametrize("value", ["0", "65", "all"])
def test_a_bad_renkei_processes_is_one_line(tmp_path: Path, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "renkei", "serve", "--port", str(free_port())],
        env={
            **os.environ,
            "RENKEI_PROCESSES": value,
            "RENKEI_DATABASE_URL": f"sqlite:///{tmp_path / 'renkei.db'}",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: invalid configuration: RENKEI_PROCESSES"), done.stderr


def test_renkei_worker_runs_the_processes_asked_for_and_stops_them(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": f"sqlite:///{tmp_path / 'renkei.db'}",
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_LOG_FORMAT": "json",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    migrated = subprocess.run(
        [sys.executable, "-m", "renkei", "migrate"], env=env, cwd=tmp_path, capture_output=True
    )
    assert migrated.returncode == 0, migrated.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "renkei", "worker", "--processes", "2"],
        env=env,
        cwd=tmp_path,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: log.read_text().count('"worker.started"') == 2, timeout=60)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert log.read_text().count('"worker.stopped"') == 2
        assert all(gone(int(pid)) for pid in children)
    finally:
        if process.poll() is None:
            process.kill()
