"""``renkei sources presets`` and ``renkei sources create --preset`` (issue 19), on both
backends: the preset's verification and mapping are set, a generated token is shown once,
the vendor's secret is kept encrypted and never printed back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.events.preset_catalog import PRESETS
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key

pytestmark = pytest.mark.timeout(300)

WHSEC = "whsec_cli-preset-secret-0123456789"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("info", "console")


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


def test_presets_are_listed(runner: CliRunner) -> None:
    listed = runner.invoke(app, ["sources", "presets", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [preset["name"] for preset in orjson.loads(listed.stdout)] == sorted(PRESETS)
    one = runner.invoke(app, ["sources", "presets", "sendgrid"])
    assert one.exit_code == 0, one.output
    assert orjson.loads(one.stdout)["settings"][0]["name"] == "public_key"


def test_create_with_a_preset(runner: CliRunner) -> None:
    created = runner.invoke(
        app,
        [
            "sources",
            "create",
            "--name",
            "pay",
            "--preset",
            "stripe",
            "--setting",
            f"secret={WHSEC}",
        ],
    )
    assert created.exit_code == 0, created.output
    shown = orjson.loads(created.stdout)
    assert shown["kind"] == "webhook"
    assert shown["verification"] == {"scheme": "stripe", "has_secret": True}
    assert shown["mapping"] == dict(PRESETS["stripe"].mapping)
    assert WHSEC not in created.stdout  # the user gave it: not echoed back

    generated = runner.invoke(app, ["sources", "create", "--name", "os", "--preset", "onesignal"])
    assert generated.exit_code == 0, generated.output
    token = orjson.loads(generated.stdout)["secret"]
    assert len(token) >= 32
    revealed = runner.invoke(app, ["sources", "secret", "os"])
    assert revealed.stdout.strip() == token
    again = runner.invoke(app, ["sources", "show", "os"])
    assert token not in again.stdout
