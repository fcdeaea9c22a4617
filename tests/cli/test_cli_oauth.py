"""``renkei connections connect``: prints the vendor's consent URL for RENKEI_PUBLIC_URL's
callback; refusals are one line (both backends)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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
    monkeypatch.setenv("RENKEI_PUBLIC_URL", "https://hub.example.com")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


def test_connect_prints_the_consent_url(runner: CliRunner) -> None:
    made = runner.invoke(
        app,
        ["connections", "create", "crm", "--connector", "hubspot",
         "--credential", "client_id=app", "--credential", "client_secret=app-secret"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["connections", "connect", "crm"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("https://app.hubspot.com/oauth/authorize?")
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == ["https://hub.example.com/oauth/callback"]
    assert query["client_id"] == ["app"] and len(query["state"][0]) >= 43
    assert "app-secret" not in result.output

    bare = runner.invoke(app, ["connections", "create", "bare", "--connector", "hubspot"])
    assert bare.exit_code == 0, bare.output
    refused = runner.invoke(app, ["connections", "connect", "bare"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: set the OAuth app's client_id"), refused.stderr
    unknown = runner.invoke(app, ["connections", "connect", "nope"])
    assert unknown.exit_code == 1 and "connection nope does not exist" in unknown.stderr
