"""The CLI does what it says (issue 14, tasks 1, 3 and 6): endpoints by id or name, the
state checked after each command; the commands a user reaches for; ``apply`` over an
endpoint created elsewhere (the README tour). Real databases on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key

pytestmark = pytest.mark.timeout(300)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "braze-quizlet" / "renkei.yaml"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("info", "json")


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


def ok(runner: CliRunner, *arguments: str) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    return result.stdout


def shown(runner: CliRunner, endpoint: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(ok(runner, "endpoints", "show", endpoint))
    return found


def test_endpoint_commands_take_an_id_or_a_name_and_do_what_they_say(runner: CliRunner) -> None:
    endpoint_id = ok(
        runner, "endpoints", "create", "--name", "crm", "--url", "https://crm.example.com/h"
    ).strip()
    assert endpoint_id.startswith("ep_")

    # Pausing by name pauses (it used to print "crm paused" and leave it active).
    assert "paused" in ok(runner, "endpoints", "pause", "crm")
    assert shown(runner, "crm")["disabled"] is True
    assert shown(runner, endpoint_id)["disabled"] is True
    assert "already" in ok(runner, "endpoints", "pause", endpoint_id)
    # ... and resuming by name resumes (it used to say the endpoint did not exist).
    assert "resumed" in ok(runner, "endpoints", "resume", "crm")
    assert shown(runner, "crm")["disabled"] is False
    ok(runner, "endpoints", "pause", endpoint_id)
    assert shown(runner, "crm")["disabled"] is True
    ok(runner, "endpoints", "resume", endpoint_id)
    assert shown(runner, endpoint_id)["disabled"] is False

    secret = ok(runner, "endpoints", "secret", "crm").strip()
    assert secret.startswith("whsec_") and "\n" not in secret
    rotated = ok(runner, "endpoints", "rotate-secret", "crm").strip()
    assert rotated.startswith("whsec_") and rotated != secret
    assert ok(runner, "endpoints", "secret", endpoint_id).strip() == rotated

    # Lists: --json, and whole values (no truncated ids) when not on a terminal.
    listed = json.loads(ok(runner, "endpoints", "list", "--json"))
    assert [item["id"] for item in listed] == [endpoint_id]
    plain = ok(runner, "endpoints", "list").splitlines()
    assert plain[0].split("\t")[:3] == ["id", "name", "url"]
    assert plain[1].split("\t")[:3] == [endpoint_id, "crm", "https://crm.example.com/h"]

    ok(runner, "events", "publish", "-t", "order.paid", "--data", '{"n": 1}')
    deliveries = json.loads(ok(runner, "deliveries", "list", "--endpoint", "crm", "--json"))
    assert len(deliveries) == 1 and deliveries[0]["endpoint_id"] == endpoint_id
    assert deliveries[0]["id"] in ok(runner, "deliveries", "list")

    assert "deleted" in ok(runner, "endpoints", "delete", "crm")
    gone = runner.invoke(app, ["endpoints", "show", endpoint_id])
    assert gone.exit_code == 1 and "does not exist" in gone.stderr
    assert json.loads(ok(runner, "endpoints", "list", "--json")) == []
    assert json.loads(ok(runner, "deliveries", "list", "--json"))[0]["status"] == "cancelled"


def test_token_list_and_revoke(runner: CliRunner) -> None:
    token = ok(runner, "token", "create", "--name", "ci", "--scope", "write").strip()
    listed = json.loads(ok(runner, "token", "list", "--json"))
    assert [(t["name"], t["scope"], t["revoked_at"]) for t in listed] == [("ci", "write", None)]
    assert token not in ok(runner, "token", "list") and listed[0]["id"] in ok(
        runner, "tokens", "list"
    )
    assert listed[0]["id"] in ok(runner, "token", "revoke", "ci")
    after = json.loads(ok(runner, "tokens", "list", "--json"))
    assert after[0]["revoked_at"] is not None
    assert json.loads(ok(runner, "token", "list", "--json", "--active")) == []
    again = runner.invoke(app, ["token", "revoke", listed[0]["id"]])
    assert again.exit_code == 1 and "does not exist" in again.stderr


def test_sources_secret_is_the_bare_key_and_lists_take_json(runner: CliRunner) -> None:
    created = json.loads(ok(runner, "sources", "create", "--name", "app"))
    assert ok(runner, "sources", "secret", "app") == created["write_key"] + "\n"
    assert [s["name"] for s in json.loads(ok(runner, "sources", "list", "--json"))] == ["app"]
    for command in (["flows"], ["connections"], ["syncs"]):
        assert json.loads(ok(runner, *command, "list", "--json")) == []


def test_apply_updates_an_endpoint_made_elsewhere_then_changes_nothing(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README tour: step 2 creates ``crm``; step 3 applies a file that defines ``crm`` too.
    It used to fail with ``NOT NULL constraint failed: endpoints.ordered`` and 500 lines."""
    for name, value in {
        "BRAZE_URL": "https://rest.iad-01.braze.com",
        "BRAZE_API_KEY": "k-1",
        "CRM_URL": "https://crm.example.com",
        "ANALYTICS_URL": "https://analytics.example.com",
        "LOYALTY_URL": "https://loyalty.example.com",
    }.items():
        monkeypatch.setenv(name, value)
    endpoint_id = ok(
        runner,
        "endpoints",
        "create",
        "--name",
        "crm",
        "--url",
        "https://crm.example.com/hooks",
        "-t",
        "track",
    ).strip()
    applied = ok(runner, "apply", "-f", str(EXAMPLE))
    assert "~ endpoints.crm (event_types, url)" in applied
    crm = shown(runner, "crm")
    assert crm["id"] == endpoint_id
    assert crm["url"] == "https://crm.example.com/hooks/unsubscribe"
    assert crm["event_types"] == ["crm.unsubscribe"]
    again = ok(runner, "apply", "-f", str(EXAMPLE))
    assert "0 to create, 0 to update" in again
    assert "0 to create, 0 to update" in ok(runner, "plan", "-f", str(EXAMPLE))
