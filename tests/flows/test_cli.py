"""``renkei apply`` for the flows section, then ``renkei flows list|runs|preview|disable``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    """The CLI points logging at CliRunner's captured stderr, which closes after the run."""
    yield
    configure_logging("info", "json")


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "behaviour-scoring" / "renkei.yaml"


def test_apply_and_flows_commands(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    applied = runner.invoke(app, ["apply", "-f", str(EXAMPLE)])
    assert applied.exit_code == 0, applied.output
    assert "flows.score-behaviour" in applied.output
    again = runner.invoke(app, ["plan", "-f", str(EXAMPLE)])
    assert (
        "flows.score-behaviour" in again.output
        and "+ flows" not in again.output
        and "~ flows" not in again.output
    )

    listed = runner.invoke(app, ["flows", "list"])
    assert "\tscore-behaviour\t1\tenabled" in listed.output

    event = {"type": "track", "name": "Pricing Viewed", "user_id": "u1"}
    previewed = runner.invoke(
        app, ["flows", "preview", "score-behaviour", "--event", json.dumps(event)]
    )
    assert previewed.exit_code == 0, previewed.output
    steps = json.loads(previewed.output)["steps"]
    assert steps[0]["output"] == {"points": 10}
    assert steps[1]["output"]["increment"] == {"lead_score": 10}

    assert runner.invoke(app, ["flows", "disable", "score-behaviour"]).exit_code == 0
    assert "disabled" in runner.invoke(app, ["flows", "list"]).output
    assert runner.invoke(app, ["flows", "runs", "score-behaviour"]).exit_code == 0
    assert runner.invoke(app, ["flows", "show", "nope"]).exit_code == 1

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "flows:\n  - name: x\n    trigger: {event_types: [a]}\n    steps: [{template: '{{ x | nope }}'}]\n"
    )
    checked = runner.invoke(app, ["flows", "validate", "-f", str(bad)])
    assert checked.exit_code == 1 and "unknown filter 'nope'" in checked.output
