"""FIFO endpoints and the per-endpoint rate limit, enforced across two worker processes
(``python -m renkei worker``) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from renkei.security.keyring import generate_key
from renkei.store import Database
from renkei.store.tables.webhooks import delivery_attempts
from tests.delivery.test_delivery_e2e import make_endpoint
from tests.delivery.webhook_receiver import Received, Receiver, verify, wait_until
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.slow


class WorkerProcesses:
    def __init__(self, database_url: str, key: str, cwd: Path, **settings: str) -> None:
        self.env = {
            **os.environ,
            "RENKEI_DATABASE_URL": database_url,
            "RENKEI_SECRET_KEY": key,
            "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
            "RENKEI_WORKER_POLL_INTERVAL": "0.1",
            "RENKEI_LOG_LEVEL": "warning",
            **{f"RENKEI_{name.upper()}": value for name, value in settings.items()},
        }
        self.cwd = cwd
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for n in range(count):
            log = (self.cwd / f"worker-{n}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "renkei", "worker"],
                    env=self.env,
                    cwd=self.cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def workers(database_url: str, key: str, tmp_path: Path) -> Iterator[WorkerProcesses]:
    pool = WorkerProcesses(
        database_url, key, tmp_path, retry_schedule="0.2,0.4,0.8,1.6", retry_jitter="0"
    )
    yield pool
    pool.stop()


def publish_many(client: httpx.Client, event_type: str, count: int, **data: Any) -> list[str]:
    ids = []
    for n in range(count):
        response = client.post(
            "/api/v1/events", json={"type": event_type, "data": {"n": n, **data}}
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def send_starts(database_url: str, endpoint_id: str) -> list[float]:
    database = Database(database_url)
    try:
        async with database.read() as connection:
            rows = await connection.execute(
                select(delivery_attempts.c.started_at).where(
                    delivery_attempts.c.endpoint_id == endpoint_id
                )
            )
            return [started.timestamp() for (started,) in rows]
    finally:
        await database.dispose()


def busiest_second(times: list[float]) -> int:
    """The most requests any one-second window [t, t + 1) holds, t at a request."""
    times = sorted(times)
    most = 0
    end = 0
    for start, t in enumerate(times):
        while end < len(times) and times[end] < t + 1.0:
            end += 1
        most = max(most, end - start)
    return most


def test_rate_limit_holds_across_two_workers(
    database_url: str, key: str, workers: WorkerProcesses
) -> None:
    """120 events to an endpoint limited to 20/s (six seconds of sends), sent by two worker
    processes.

    The limit is on sends: the send starts Renkei recorded hold at most 21 in any
    one-second window (the limiter spaces starts 50 ms apart: 20, +1 on a closed window
    edge). As the receiver saw them: at most 23, the extra two for arrival jitter, since
    the receiver is a thread of this test process, sharing two cores with the server and
    both workers, and a thread starved for a few milliseconds records a small burst.
    """
    with (
        Receiver() as receiver,
        running_hub(database_url, with_worker=False, secret_key=[key]) as (
            base_url,
            _,
        ),
    ):
        client = admin_client(base_url)
        endpoint = make_endpoint(client, receiver.url, rate_limit_per_second=20)
        ids = publish_many(client, "order.paid", 120)
        workers.start(2)
        wait_until(lambda: len(set(receiver.ids())) == 120, timeout=120, interval=0.5)
        requests = receiver.snapshot()
        assert set(receiver.ids()) == set(ids)
        assert busiest_second(asyncio.run(send_starts(database_url, endpoint["id"]))) <= 21
        assert busiest_second([r.at for r in requests]) <= 23
        for request in requests[:20]:
            verify(endpoint["secret"], request)
    pids = {p.pid for p in workers.processes}
    assert len(pids) == 2


def test_fifo_order_survives_failures_and_does_not_slow_others(
    database_url: str, key: str, workers: WorkerProcesses
) -> None:
    """The receiver fails the first attempt of every 5th event; the FIFO endpoint still
    receives (and accepts) events in publish order, across two worker processes."""

    accepted: list[str] = []
    lock = threading.Lock()

    def fail_every_fifth(request: Received, before: int) -> Any:
        if request.path == "/fifo" and request.json["data"]["n"] % 5 == 4 and before == 0:
            return 500
        if request.path == "/fifo":
            with lock:
                accepted.append(request.webhook_id)
        return 200

    with (
        Receiver(fail_every_fifth) as receiver,
        running_hub(database_url, with_worker=False, secret_key=[key]) as (base_url, _),
    ):
        client = admin_client(base_url)
        fifo = make_endpoint(client, receiver.url.replace("/hook", "/fifo"), ordered=True)
        plain = make_endpoint(client, receiver.url.replace("/hook", "/plain"))
        ids = publish_many(client, "order.paid", 60)
        workers.start(2)
        wait_until(lambda: len(accepted) == 60, timeout=60)
        fifo_requests = [r for r in receiver.snapshot() if r.path == "/fifo"]
        first_arrivals = list(dict.fromkeys(r.webhook_id for r in fifo_requests))
        assert accepted == ids
        assert first_arrivals == ids
        assert len(fifo_requests) == 60 + 12
        for request in fifo_requests:
            verify(fifo["secret"], request)
        wait_until(lambda: len([r for r in receiver.snapshot() if r.path == "/plain"]) == 60)
        assert plain["id"]


def test_failing_head_holds_back_only_its_lane(
    database_url: str, key: str, workers: WorkerProcesses
) -> None:
    blocked = threading.Event()
    blocked.set()

    def answer(request: Received, _: int) -> Any:
        data = request.json["data"]
        if request.path == "/fifo" and data["user"] == "a" and data["n"] == 0 and blocked.is_set():
            return 503
        return 200

    with (
        Receiver(answer) as receiver,
        running_hub(database_url, with_worker=False, secret_key=[key]) as (base_url, _),
    ):
        client = admin_client(base_url)
        make_endpoint(
            client, receiver.url.replace("/hook", "/fifo"), ordered=True, ordering_key="data.user"
        )
        make_endpoint(client, receiver.url.replace("/hook", "/plain"))
        a_ids = publish_many(client, "order.paid", 5, user="a")
        b_ids = publish_many(client, "order.paid", 5, user="b")
        workers.start(2)

        def arrived(path: str) -> list[Received]:
            return [r for r in receiver.snapshot() if r.path == path]

        # Lane b and the unordered endpoint get everything while lane a's head fails.
        wait_until(lambda: {r.webhook_id for r in arrived("/fifo")} >= set(b_ids), timeout=30)
        wait_until(lambda: len(arrived("/plain")) == 10, timeout=30)
        wait_until(lambda: sum(r.webhook_id == a_ids[0] for r in arrived("/fifo")) >= 3, timeout=30)
        assert not {r.webhook_id for r in arrived("/fifo")} & set(a_ids[1:])
        blocked.clear()
        wait_until(lambda: set(a_ids) <= {r.webhook_id for r in arrived("/fifo")}, timeout=30)
        a_order = list(
            dict.fromkeys(r.webhook_id for r in arrived("/fifo") if r.webhook_id in a_ids)
        )
        b_order = list(
            dict.fromkeys(r.webhook_id for r in arrived("/fifo") if r.webhook_id in b_ids)
        )
        assert a_order == a_ids and b_order == b_ids
