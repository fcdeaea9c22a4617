"""``renkei replay``, ``renkei deliveries resend --filter``, ``renkei flows rerun`` and
``renkei jobs dead|retry`` call the same use cases as the API; a bulk command works its
operation to the end and prints it (``--json``). Real databases on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from tests.cli.test_cli_endpoints import _restore_logging, ok, runner

__all__ = ["_restore_logging", "runner"]

pytestmark = pytest.mark.timeout(120)


def operation(runner: CliRunner, *arguments: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ok(runner, *arguments, "--json"))
    return found


def refused(runner: CliRunner, *arguments: str) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == 1, result.output
    return result.output


def test_run_it_again_from_the_command_line(runner: CliRunner) -> None:
    for n in range(5):
        ok(runner, "events", "publish", "--type", "order.paid", "--data", json.dumps({"n": n}))
    ok(runner, "endpoints", "create", "--name", "crm", "--url", "https://crm.example.com/h")

    replayed = operation(runner, "replay", "--endpoint", "crm", "--since", "2000-01-01")
    assert replayed["kind"] == "endpoint.replay" and replayed["status"] == "done"
    assert (replayed["total"], replayed["done"], replayed["skipped"]) == (5, 5, 0)
    again = operation(
        runner, "replay", "--endpoint", "crm", "--since", "2000-01-01", "--event-type", "order.paid"
    )
    assert (again["done"], again["skipped"]) == (5, 5)
    progress = runner.invoke(app, ["replay", "--endpoint", "crm", "--since", "2000-01-01"])
    assert progress.exit_code == 0 and "5 of 5 handled, 5 skipped" in progress.stdout

    resent = operation(runner, "deliveries", "resend", "--filter", "endpoint=crm")
    assert resent["kind"] == "deliveries.resend" and resent["total"] == 0  # none failed
    rerun = operation(runner, "flows", "rerun", "--status", "failed")
    assert rerun["kind"] == "flow_runs.rerun" and rerun["status"] == "done"

    assert json.loads(ok(runner, "jobs", "dead", "--json")) == []
    assert "does not exist" in refused(runner, "jobs", "retry", "424242")
    assert "--endpoint or --flow" in refused(runner, "replay", "--since", "2000-01-01")
    assert "until must be after since" in refused(
        runner, "replay", "--endpoint", "crm", "--since", "2026-02-01", "--until", "2026-01-01"
    )
    assert "KEY=VALUE" in refused(runner, "deliveries", "resend", "--filter", "colour=red")
    assert "does not exist" in refused(runner, "flows", "rerun", "run_x", "--flow", "nope")
