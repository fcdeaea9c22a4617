"""Waking a worker in another process on the embedded database (no ``NOTIFY``).

The worker runs in its own ``renkei worker`` process and polls only every 10 minutes; the
event is published through a ``renkei serve --processes 1 --no-worker``. The delivery
arrives within the test's bounds only if the API process's commit woke the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from renkei.security.keyring import generate_key
from renkei.store.local_channels import LocalListener, LocalNotifier, rendezvous
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.support.server import ADMIN_TOKEN, free_port

RENKEI = [sys.executable, "-m", "renkei"]


@pytest.mark.slow
def test_a_commit_in_one_process_wakes_the_worker_of_another(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": f"sqlite:///{tmp_path / 'renkei.db'}",
        "RENKEI_ADMIN_TOKEN": ADMIN_TOKEN,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
        "RENKEI_LOG_FORMAT": "json",
        "RENKEI_WORKER_POLL_INTERVAL": "600",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    processes: list[subprocess.Popen[bytes]] = []
    with Receiver() as receiver:
        try:
            processes.append(
                subprocess.Popen(
                    [*RENKEI, "serve", "--port", str(port), "--processes", "1", "--no-worker"],
                    env=env,
                    cwd=tmp_path,
                    stdout=api_log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )

            def healthy() -> bool:
                try:
                    return httpx.get(f"{url}/healthz").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(healthy, timeout=60, interval=0.1)
            processes.append(
                subprocess.Popen(
                    [*RENKEI, "worker"],
                    env=env,
                    cwd=tmp_path,
                    stdout=worker_log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
            wait_until(
                lambda: '"worker.started"' in worker_log.read_text(), timeout=60, interval=0.1
            )
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
            ) as client:
                created = client.post(
                    "/api/v1/endpoints", json={"name": "crm", "url": receiver.url}
                )
                assert created.status_code == 201, created.text
                published = client.post(
                    "/api/v1/events", json={"type": "order.paid", "data": {"n": 1}}
                )
                assert published.status_code == 201, published.text
            wait_until(lambda: len(receiver.requests) == 1, timeout=60, interval=0.05)
            assert receiver.requests[0].json["data"] == {"n": 1}
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)


def test_a_listener_left_by_a_killed_process_is_removed(tmp_path: Path) -> None:
    directory = rendezvous(tmp_path / "renkei.db")
    # A socket file nobody listens on (its process is gone) under another pid.
    stale = directory / "jobs.999999999.0"
    import socket

    orphan = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    orphan.bind(str(stale))
    orphan.close()
    notifier = LocalNotifier(directory, "jobs")
    notifier.send()
    assert not stale.exists()
    notifier.close()


def test_the_rendezvous_is_one_private_directory_per_database_file(tmp_path: Path) -> None:
    one = rendezvous(tmp_path / "a.db")
    assert rendezvous(tmp_path / "a.db") == one
    assert rendezvous(tmp_path / "b.db") != one
    assert one.stat().st_mode & 0o777 == 0o700
    listener = LocalListener(one, "jobs", lambda: None)
    # Short enough for a Unix socket path (108 bytes on Linux) wherever the data lives.
    assert len(str(listener.path)) < 100


async def test_a_commit_notifies_the_other_processes_only_when_asked(tmp_path: Path) -> None:
    """A worker wakes the other processes only when it cannot take the jobs itself."""
    import socket

    from renkei.store import Database
    from renkei.store.notifications import notify_after_commit

    database = Database(f"sqlite:///{tmp_path / 'renkei.db'}")
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    peer.bind(str(rendezvous(tmp_path / "renkei.db") / "jobs.999999999.0"))
    peer.setblocking(False)
    busy = False
    notify_after_commit(database, "enqueued", "jobs", when=lambda: busy)
    try:
        async with database.transaction() as connection:
            connection.info["enqueued"] = True
        with pytest.raises(BlockingIOError):
            peer.recv(16)
        busy = True
        async with database.transaction() as connection:
            connection.info["enqueued"] = True
        assert peer.recv(16) == b"!"
    finally:
        peer.close()
        await database.dispose()
