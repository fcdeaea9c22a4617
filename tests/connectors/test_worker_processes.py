"""Two worker processes share one Marketo connection: together they stay inside its rate
window and concurrency cap, which only the database tells them about."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from renkei.clock import SystemClock
from renkei.hub import Hub
from renkei.sandbox import MarketoSandboxConfig, create_marketo_app, serve_in_thread
from renkei.security.keyring import generate_key
from tests.support import server

from .harness import MARKETO_CREDENTIALS, Rig, leads

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WORKER = Path(__file__).with_name("worker_main.py")


@pytest.fixture
def secret_key() -> str:
    return generate_key()


@pytest.fixture
def workers(
    database_url: str, secret_key: str, tmp_path: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_two_workers_sharing_a_connection_never_exceed_its_limits_together(
    database_url: str,
    secret_key: str,
    tmp_path: Path,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    # 4 calls per second and 2 at a time, on both sides; 20 batches of 20 to send.
    sandbox = create_marketo_app(
        MarketoSandboxConfig(rate_limit_calls=4, rate_limit_window_seconds=1.0, max_concurrent=2)
    )
    with serve_in_thread(sandbox.app) as base_url:
        clock = SystemClock()
        hub = Hub(server.test_settings(database_url, secret_key=[secret_key]), clock=clock)
        r = Rig(hub, clock)  # type: ignore[arg-type]  # real time: never driven
        try:
            await r.connect(
                "mkto",
                "marketo",
                config={"base_url": base_url},
                credentials=MARKETO_CREDENTIALS,
                limits={
                    "rate_limit": {"calls": 4, "per_seconds": 1.0, "concurrency": 2},
                    "batch_size": 20,
                },
            )
            logs = [tmp_path / f"worker{n}.log" for n in range(2)]
            env = {
                **os.environ,
                "RENKEI_SECRET_KEY": secret_key,
                "RENKEI_ALLOW_PRIVATE_TARGETS": "true",  # the sandbox is on loopback
            }
            for log in logs:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, str(WORKER), database_url],
                        stderr=log.open("wb"),
                        env=env,
                    )
                )
            deadline = time.monotonic() + 60
            while not all("worker.started" in log.read_text() for log in logs):
                assert time.monotonic() < deadline, "the workers did not start"
                assert all(w.poll() is None for w in workers), "a worker died"
                await asyncio.sleep(0.1)
            submission_id = await r.submit("mkto", "upsert_leads", leads(400))
            deadline = time.monotonic() + 120
            while not (await r.submission(submission_id)).done:
                assert time.monotonic() < deadline, "the workers did not finish"
                assert all(w.poll() is None for w in workers), "a worker died"
                await asyncio.sleep(0.2)
        finally:
            await hub.database.dispose()

    assert sandbox.violations == []
    assert len(sandbox.leads) == 400
    calls_per_worker = [log.read_text().count('"operation": "upsert_leads"') for log in logs]
    assert all(calls > 0 for calls in calls_per_worker), calls_per_worker
