"""The CLI's refusals read alike: ``error: <kind> <ref> does not exist`` for anything
missing, and ``error:`` before anything Renkei refuses (exit 1). ``syncs quota nope`` said
"connection 'nope' not found"; a test send the target policy refused printed
"127.0.0.1 refused by policy" as if the endpoint had answered. Both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.security.keyring import generate_key

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


def test_a_missing_connections_quota_says_it_does_not_exist(runner: CliRunner) -> None:
    missing = runner.invoke(app, ["syncs", "quota", "nope"])
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: connection nope does not exist"


def test_a_test_send_the_policy_refuses_is_an_error_line(runner: CliRunner) -> None:
    made = runner.invoke(
        app, ["endpoints", "create", "--name", "crm", "--url", "http://localhost:9/hook"]
    )
    assert made.exit_code == 0, made.output
    refused = runner.invoke(app, ["endpoints", "test", "crm", "-t", "order.paid"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: ") and "refused by policy" in refused.stderr
    assert refused.stdout == ""
