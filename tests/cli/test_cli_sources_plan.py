"""``renkei sources plan SOURCE MODE`` takes ``off`` for no plan: a bad mode names the modes
the command takes, not the API's ``null`` (which the command refuses)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("info", "json")


def test_a_bad_plan_mode_names_off_not_null(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RENKEI_DATABASE_URL", f"sqlite:///{tmp_path / 'renkei.db'}")
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    created = runner.invoke(app, ["sources", "create", "--kind", "tracking", "--name", "web"])
    assert created.exit_code == 0, created.output
    for mode in ("null", "none", "blok"):
        result = runner.invoke(app, ["sources", "plan", "web", mode])
        assert result.exit_code == 1, result.output
        error = result.stderr.strip().splitlines()[-1]
        assert error.startswith("error: "), error
        assert "off" in error and "null" not in error, error
    assert runner.invoke(app, ["sources", "plan", "web", "block"]).exit_code == 0
    assert runner.invoke(app, ["sources", "plan", "web", "off"]).exit_code == 0
