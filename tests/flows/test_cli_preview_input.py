"""``renkei flows preview --event`` that is not a JSON object is one line and exit 1: a
malformed one was reported as "unexpected JSONDecodeError ... (a bug in Renkei)"."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "behaviour-scoring" / "renkei.yaml"


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    """The CLI points logging at CliRunner's captured stderr, which closes after the run."""
    yield
    configure_logging("info", "json")


@pytest.mark.parametrize(
    ("event", "said"),
    [
        ("{bad", "error: --event is not JSON: "),
        ("[]", "error: --event must be a JSON object"),
    ],
)
def test_a_preview_event_that_is_not_an_object_is_refused_in_one_line(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, event: str, said: str
) -> None:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["apply", "-f", str(EXAMPLE)]).exit_code == 0
    refused = runner.invoke(app, ["flows", "preview", "score-behaviour", "--event", event])
    assert refused.exit_code == 1
    assert said in refused.output and "bug in Renkei" not in refused.output
    assert len([line for line in refused.output.splitlines() if line.startswith("error:")]) == 1
