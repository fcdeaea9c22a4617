"""``renkei secrets list|set|delete``: the API's use cases from the shell, audited the same
way; the value is read from stdin or an environment variable, stored encrypted, and never
printed. Real databases on both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.flows.secrets import reveal
from renkei.observability.logging import configure_logging
from renkei.security.keyring import Keyring, generate_key
from renkei.store import Database
from renkei.store.tables.core import audit_log
from renkei.store.tables.flows import secrets

pytestmark = pytest.mark.timeout(300)

VALUE = "sk-live-4f1c9e-not-for-your-eyes"
ROTATED = "sk-live-77aa01-rotated-value"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("info", "json")


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def runner(
    database_url: str, key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> CliRunner:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", key)
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


def run(runner: CliRunner, *arguments: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(arguments), input=input)
    assert result.exit_code == 0, result.output
    for value in (VALUE, ROTATED):
        assert value not in result.stdout and value not in result.stderr
    return result.stdout


def stored(database_url: str, key: str) -> tuple[dict[str, str], list[Any], list[str]]:
    """What the database holds: the secrets decrypted, the audit rows, the raw values."""

    async def read() -> tuple[dict[str, str], list[Any], list[str]]:
        database = Database(database_url)
        try:
            async with database.read() as connection:
                names = [row.name for row in await connection.execute(select(secrets.c.name))]
                raw = [
                    str(v) for v in (await connection.execute(select(secrets.c.value))).scalars()
                ]
                values = await reveal(connection, Keyring([key]), names)
                rows = list(
                    await connection.execute(
                        select(audit_log).where(audit_log.c.target_type == "secret")
                    )
                )
        finally:
            await database.dispose()
        return values, rows, raw

    return asyncio.run(read())


def test_set_list_delete_keep_the_value_out_of_sight(
    runner: CliRunner, database_url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(runner, "secrets", "list").splitlines() == ["NAME\tDESCRIPTION\tUPDATED"]
    assert json.loads(run(runner, "secrets", "list", "--json")) == []

    # From stdin, as `printf %s "$KEY" | renkei secrets set ...` or `echo` (newline dropped).
    out = run(
        runner, "secrets", "set", "mailchimp_key", "--description", "Mailchimp", input=VALUE + "\n"
    )
    assert "created secret mailchimp_key" in out
    # From the environment.
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.example/T0/B0/xyz")
    assert "created secret slack_url" in run(
        runner, "secrets", "set", "slack_url", "--from-env", "SLACK_URL"
    )

    values, _, raw = stored(database_url, key)
    assert values == {"mailchimp_key": VALUE, "slack_url": "https://hooks.slack.example/T0/B0/xyz"}
    assert all(VALUE not in text for text in raw)  # encrypted at rest

    listed = json.loads(run(runner, "secrets", "list", "--json"))
    assert [(s["name"], s["description"]) for s in listed] == [
        ("mailchimp_key", "Mailchimp"),
        ("slack_url", ""),
    ]
    assert all("value" not in s for s in listed)
    assert run(runner, "secrets", "list").splitlines()[1].startswith("mailchimp_key\tMailchimp\t")

    # A new value (a rotation) keeps the description when none is given.
    assert "updated secret mailchimp_key" in run(
        runner, "secrets", "set", "mailchimp_key", input=ROTATED
    )
    values, _, _ = stored(database_url, key)
    assert values["mailchimp_key"] == ROTATED
    assert json.loads(run(runner, "secrets", "list", "--json"))[0]["description"] == "Mailchimp"

    assert "deleted secret slack_url" in run(runner, "secrets", "delete", "slack_url")
    values, audit, _ = stored(database_url, key)
    assert set(values) == {"mailchimp_key"}

    # Audited as the API audits, with no value in the trail.
    assert sorted((row.action, row.details["name"]) for row in audit) == [
        ("secret.created", "mailchimp_key"),
        ("secret.created", "slack_url"),
        ("secret.deleted", "slack_url"),
        ("secret.updated", "mailchimp_key"),
    ]
    assert all(row.details["via"] == "cli" for row in audit)
    assert all(v not in json.dumps(row.details) for row in audit for v in (VALUE, ROTATED))


def test_a_duplicate_or_bad_value_is_one_line(runner: CliRunner) -> None:
    too_big = "x" * (16 * 1024 + 1)
    result = runner.invoke(app, ["secrets", "set", "big"], input=too_big)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "at most" in lines[0]
    assert too_big not in result.output
