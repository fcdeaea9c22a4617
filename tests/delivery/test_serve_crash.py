"""SIGKILL of a real ``renkei serve`` in the middle of 5,000 deliveries, then a restart:
every acknowledged event reaches the receiver at least once, and duplicates (attempts in
flight at the crash) carry the same ``webhook-id`` and the same signed body."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from renkei.security.keyring import generate_key
from tests.delivery.webhook_receiver import Receiver, verify, wait_until
from tests.support.server import ADMIN_TOKEN, free_port

pytestmark = pytest.mark.slow
EVENTS = 5000


class Serve:
    def __init__(self, env: dict[str, str], cwd: Path, port: int, name: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "renkei", "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=(cwd / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60, interval=0.1)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        )


def test_sigkill_mid_delivery_loses_nothing(database_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_ADMIN_TOKEN": ADMIN_TOKEN,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
        "RENKEI_LEASE_SECONDS": "2",
        "RENKEI_RETRY_SCHEDULE": "0.5,1,2,4",
        "RENKEI_LOG_LEVEL": "warning",
    }
    port = free_port()
    with Receiver() as receiver:
        first = Serve(env, tmp_path, port, "first")
        with first.client() as client:
            endpoint = client.post(
                "/api/v1/endpoints", json={"name": "crm", "url": receiver.url}
            ).json()
            secret = client.get(f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"]

        acknowledged: list[str] = []
        lock = threading.Lock()

        def publish(base_url: str, numbers: list[int]) -> None:
            with httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
            ) as client:
                for n in numbers:
                    try:
                        response = client.post(
                            "/api/v1/events", json={"type": "order.paid", "data": {"n": n}}
                        )
                    except httpx.HTTPError:
                        return
                    if response.status_code != 201:
                        return
                    with lock:
                        acknowledged.append(response.json()["id"])
                        published.add(n)

        published: set[int] = set()
        started = time.monotonic()
        publishers = [
            threading.Thread(target=publish, args=(first.url, list(range(k, EVENTS, 4))))
            for k in range(4)
        ]
        for thread in publishers:
            thread.start()
        # Kill while events are still being published and delivered.
        wait_until(lambda: len(receiver.requests) >= 1500, timeout=60, interval=0.005)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
        for thread in publishers:
            thread.join(60)
        at_kill = len(set(receiver.ids()))
        killed_at = time.monotonic() - started

        second = Serve(env, tmp_path, port, "second")
        try:
            publish(second.url, [n for n in range(EVENTS) if n not in published])
            assert len(acknowledged) >= EVENTS
            wait_until(lambda: set(acknowledged) <= set(receiver.ids()), timeout=120, interval=0.2)
        finally:
            second.process.send_signal(signal.SIGTERM)
            second.process.wait(timeout=60)
        total = time.monotonic() - started

    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in receiver.snapshot():
        verify(secret, request)
        bodies[request.webhook_id].add(request.body)
    assert set(acknowledged) <= set(bodies)
    # A duplicate is the same message: same webhook-id, same body.
    assert all(len(variants) == 1 for variants in bodies.values())
    duplicates = len(receiver.requests) - len(bodies)
    print(
        f"killed after {killed_at:.1f} s with {at_kill} delivered; all {len(bodies)} delivered "
        f"after {total:.1f} s; {duplicates} duplicates"
    )
