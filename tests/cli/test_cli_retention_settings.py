"""Retention settings (issue 20): a bad value stops any command at start with one line
naming the variable; the older ``RENKEI_*_RETENTION_DAYS`` names still work beside the
``RENKEI_RETENTION_*`` ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key
from renkei.settings import Settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("info", "json")


BAD = [
    ("RENKEI_RETENTION_EVENTS_DAYS", "0", "RENKEI_RETENTION_EVENTS_DAYS: Input should be greater"),
    ("RENKEI_RETENTION_EVENTS_DAYS", "soon", "RENKEI_RETENTION_EVENTS_DAYS: Input should be a"),
    ("RENKEI_RETENTION_DELIVERIES_DAYS", "-3", "RENKEI_RETENTION_DELIVERIES_DAYS"),
    ("RENKEI_RETENTION_SYNC_RUNS_DAYS", "0", "RENKEI_RETENTION_SYNC_RUNS_DAYS"),
    ("RENKEI_RETENTION_EVENT_TYPES", "page", "'page' is not type=days"),
    ("RENKEI_RETENTION_EVENT_TYPES", "page=0", "page: days must be > 0"),
    ("RENKEI_RETENTION_EVENT_TYPES", "page=soon", "RENKEI_RETENTION_EVENT_TYPES (page)"),
    ("RENKEI_RETENTION_EVENT_TYPES", "{page: 7}", "RENKEI_RETENTION_EVENT_TYPES"),
    # A type named twice is a typo to show, not a silent "the last one wins".
    ("RENKEI_RETENTION_EVENT_TYPES", "page=7,page=8", "'page' is named twice"),
    ("RENKEI_RETENTION_EVENT_TYPES", '{"page": 7, "page": 8}', "'page' is named twice"),
    # JSON that is not an object is named as such, not cut at its commas.
    ("RENKEI_RETENTION_EVENT_TYPES", "[1, 2]", "a JSON object"),
    ("RENKEI_RETENTION_FLOW_RUNS_DAYS", "-1", "RENKEI_RETENTION_FLOW_RUNS_DAYS"),
    # The older name is read; the error names the setting by its RENKEI_RETENTION_* name.
    ("RENKEI_FLOW_RUN_RETENTION_DAYS", "-1", "RENKEI_RETENTION_FLOW_RUNS_DAYS"),
    ("RENKEI_RETENTION_BATCH_SIZE", "0", "RENKEI_RETENTION_BATCH_SIZE"),
    ("RENKEI_RETENTION_INTERVAL_SECONDS", "0", "RENKEI_RETENTION_INTERVAL_SECONDS"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_a_bad_retention_setting_stops_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("RENKEI_DATABASE_URL", f"sqlite:///{tmp_path / 'renkei.db'}")
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid configuration: "), lines
    assert message in lines[0], lines[0]
    assert not (tmp_path / "renkei.db").exists()  # stopped before touching the database


def test_old_and_new_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENKEI_FLOW_RUN_RETENTION_DAYS", "12")
    monkeypatch.setenv("RENKEI_WEBHOOK_REQUEST_RETENTION_DAYS", "3")
    monkeypatch.setenv("RENKEI_RETENTION_CONNECTOR_RECORDS_DAYS", "4")
    monkeypatch.setenv("RENKEI_RETENTION_EVENT_TYPES", "page=7, order.paid = 365.5")
    settings = Settings()
    assert settings.flow_run_retention_days == 12
    assert settings.webhook_request_retention_days == 3
    assert settings.connector_record_retention_days == 4
    assert settings.retention_event_types == {"page": 7, "order.paid": 365.5}
    monkeypatch.setenv("RENKEI_RETENTION_FLOW_RUNS_DAYS", "20")  # the newer name wins
    monkeypatch.setenv("RENKEI_RETENTION_EVENT_TYPES", '{"identify": 400}')
    settings = Settings()
    assert settings.flow_run_retention_days == 20
    assert settings.retention_event_types == {"identify": 400}
    assert Settings(flow_run_retention_days=5).flow_run_retention_days == 5
