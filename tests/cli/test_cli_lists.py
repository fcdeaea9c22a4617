"""Every ``list`` command prints alike (``cli/_common.print_rows``): a header and whole
tab-separated values when piped, "No …." on a terminal when empty, JSON with ``--json``.
``flows list`` and ``connections list`` printed nothing when empty and space-separated lines
without a header when piped. Real databases on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli._common import console
from renkei.cli.main import app
from renkei.security.keyring import generate_key

pytestmark = pytest.mark.timeout(300)

HEADERS = {
    "flows": "id\tname\tversion\tstate",
    "connections": "id\tconnector\tname\tstatus\tlast error",
    "syncs": "id\tname\tdirection\tobject\tconnection\ttrigger",
}


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


def test_lists_print_a_header_piped_a_sentence_when_empty_and_json(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    for noun, header in HEADERS.items():
        piped = runner.invoke(app, [noun, "list"])
        assert piped.exit_code == 0, piped.output
        assert piped.stdout.splitlines() == [header]
        assert json.loads(runner.invoke(app, [noun, "list", "--json"]).stdout) == []
    monkeypatch.setattr(console, "_force_terminal", True)
    for noun in HEADERS:
        on_terminal = runner.invoke(app, [noun, "list"])
        assert on_terminal.stdout.strip() == f"No {noun}."
