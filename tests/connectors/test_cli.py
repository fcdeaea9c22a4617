"""``renkei connections ...`` and ``renkei sandbox ...`` from the command line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from typer.testing import CliRunner

from renkei.cli import app
from renkei.sandbox import MarketoSandboxConfig, create_marketo_app, serve_in_thread
from renkei.sandbox.hubspot import DEFAULT_TOKEN
from renkei.security.keyring import generate_key
from tests.support.server import free_port

from .harness import MARKETO_CREDENTIALS

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def keep_logging_config() -> Iterator[None]:
    """The CLI configures logging for the process; later tests expect the defaults."""
    saved = structlog.get_config()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    structlog.configure(**saved)
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.fixture
def marketo_url() -> Iterator[str]:
    with serve_in_thread(create_marketo_app(MarketoSandboxConfig(seed_leads=2)).app) as url:
        yield url


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",  # the sandbox is on loopback
        "RENKEI_LOG_LEVEL": "warning",
        "RENKEI_CONNECTOR_BATCH_WAIT_SECONDS": "0",
        "MKTO_SECRET": MARKETO_CREDENTIALS["client_secret"],
    }


def test_connections_from_the_command_line(
    env: dict[str, str], marketo_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    created = json.loads(
        run(
            "connections",
            "create",
            "mkto",
            "--connector",
            "marketo",
            "--config",
            f"base_url={marketo_url}",
            "--credential",
            "client_id=renkei-sandbox",
            "--credential",
            "client_secret=env:MKTO_SECRET",
            "--limits",
            '{"daily_quota": {"calls": 1000}}',
        )
    )
    assert created["credentials_set"] == ["client_id", "client_secret"]
    assert "mkto" in run("connections", "list")
    assert json.loads(run("connections", "show", "mkto"))["id"] == created["id"]
    tested = run("connections", "test", "mkto")
    assert '"ok": true' in tested
    usage = json.loads(run("connections", "usage", "mkto"))
    assert usage["daily_quota"]["used"] == 1 and usage["daily_quota"]["limit"] == 1000

    records = tmp_path / "leads.json"
    records.write_text(json.dumps([{"email": f"cli{n}@example.com"} for n in range(3)]))
    submission_id = run("connections", "submit", "mkto", "upsert_leads", "--file", str(records))
    submission_id = submission_id.strip()
    assert submission_id.startswith("sub_")
    run("worker", "--burst")
    outcome = json.loads(run("connections", "submission", submission_id))
    assert outcome["done"] and outcome["counts"]["ok"] == 3
    read = json.loads(
        run(
            "connections",
            "call",
            "mkto",
            "read_lead_changes",
            "--input",
            '{"since": "2020-01-01T00:00:00Z", "fields": ["email"]}',
        )
    )
    assert read["ok"] is True and read["data"]["more"] is False

    run("connections", "update", "mkto", "--credential", "client_secret=wrong-one")
    failed = run("connections", "test", "mkto", code=1)
    assert "wrong-one" not in failed
    run("connections", "delete", "mkto", "--yes")
    run("connections", "show", "mkto", code=1)
    for output in (tested, failed):
        assert MARKETO_CREDENTIALS["client_secret"] not in output


def test_renkei_sandbox_serves_a_vendor_api() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "renkei",
            "sandbox",
            "hubspot",
            "--port",
            str(port),
            "--set",
            "seed_contacts=3",
        ],
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/crm/v3/objects/contacts",
                    headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
                )
                break
            except httpx.TransportError:
                assert process.poll() is None, "the sandbox exited"
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert len(response.json()["results"]) == 3
    finally:
        process.terminate()
        process.wait(timeout=10)
