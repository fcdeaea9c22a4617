"""Browser tests: a live ``renkei serve`` (fresh data directory, SQLite), Debian's Chromium
driven by Playwright (never a downloaded browser), one browser per module."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.dashboard.receiver import Receiver, RunningReceiver
from tests.support.server import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = "rk_admin_dashboard-browser-test-0123456789"
RENKEI = [sys.executable, "-m", "renkei"]


@dataclass
class Served:
    url: str
    admin_token: str
    write_token: str
    read_token: str
    data: Path

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=30
        )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"renkei serve ended: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # polling a starting process; the browser steps never sleep
    raise RuntimeError(f"renkei serve did not start: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("dashboard")
    env = {
        **os.environ,
        "RENKEI_DATA_DIR": str(data),
        "RENKEI_DATABASE_URL": f"sqlite:///{data}/renkei.db",
        "RENKEI_ADMIN_TOKEN": ADMIN,
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on 127.0.0.1
        "RENKEI_LOG_FORMAT": "json",
        "XDG_CONFIG_HOME": str(data / "config"),
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data / "serve.log"
    process = subprocess.Popen(
        [*RENKEI, "serve", "--port", str(port)],
        env=env,
        cwd=data,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(url, process, log)
        tokens = {}
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
        ) as api:
            for scope in ("write", "read"):
                made = api.post("/api/v1/tokens", json={"name": f"{scope}-person", "scope": scope})
                tokens[scope] = made.json()["token"]
        yield Served(url, ADMIN, tokens["write"], tokens["read"], data)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with RunningReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup test")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
