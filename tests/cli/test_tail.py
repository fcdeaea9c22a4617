"""``renkei tail`` and ``renkei sources``: the CLI on the same services as the API."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.security.keyring import generate_key
from tests.support.server import admin_client, running_hub


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_LOG_LEVEL": "warning",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_sources_commands_and_tail(env: dict[str, str], database_url: str) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["sources", "create", "--name", "app"])
    assert created.exit_code == 0, created.output
    source = orjson.loads(created.output)
    write_key = source["write_key"]
    listed = runner.invoke(app, ["sources", "list"])
    assert "app" in listed.output and write_key not in listed.output
    # Bare, like `renkei token create`, for `$(renkei sources secret app)`; JSON on request.
    assert runner.invoke(app, ["sources", "secret", "app"]).stdout == write_key + "\n"
    assert orjson.loads(runner.invoke(app, ["sources", "secret", "app", "--json"]).stdout) == {
        "write_key": write_key
    }
    hook = runner.invoke(
        app,
        [
            "sources",
            "create",
            "--name",
            "crm",
            "--kind",
            "webhook",
            "--mapping",
            '{"type": "type"}',
        ],
    )
    assert hook.exit_code == 0, hook.output
    assert orjson.loads(hook.output)["url"].endswith("/hooks/" + orjson.loads(hook.output)["id"])
    bad = runner.invoke(app, ["sources", "create", "--name", "x", "--kind", "nope"])
    assert bad.exit_code == 1

    with running_hub(database_url, secret_key=[env["RENKEI_SECRET_KEY"]]) as (base_url, _):
        auth = httpx.BasicAuth(write_key, "")
        for message in (
            {"type": "track", "userId": "u1", "event": "Viewed"},
            {"type": "identify", "userId": "u1"},
            {"type": "track", "userId": "u2", "event": "Bought"},
        ):
            assert httpx.post(
                f"{base_url}/v1/{message['type']}", json=message, auth=auth
            ).is_success
        with admin_client(base_url) as admin:
            assert admin.get("/api/v1/events").json()["data"]

    shown = runner.invoke(app, ["tail", "--no-follow", "--last", "10", "--type", "track"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.strip().splitlines()
    assert len(lines) == 2
    assert "track  Viewed  u1" in lines[0] and "track  Bought  u2" in lines[1]
    as_json = runner.invoke(app, ["tail", "--no-follow", "-n", "1", "--json"])
    assert orjson.loads(as_json.output)["type"] == "track"

    assert runner.invoke(app, ["sources", "disable", "app"]).exit_code == 0
    assert runner.invoke(app, ["sources", "delete", "crm"]).exit_code == 0
    assert "crm" not in runner.invoke(app, ["sources", "list"]).output


def test_tail_follows_new_events(env: dict[str, str], database_url: str) -> None:
    with running_hub(database_url, secret_key=[env["RENKEI_SECRET_KEY"]]) as (base_url, _):
        with admin_client(base_url) as admin:
            write_key = admin.post(
                "/api/v1/sources", json={"kind": "tracking", "name": "app"}
            ).json()["write_key"]
        tail = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "renkei",
                "tail",
                "--type",
                "track",
                "--max-events",
                "2",
                "--interval",
                "0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
            text=True,
        )
        try:
            auth = httpx.BasicAuth(write_key, "")
            number = 0
            deadline = time.monotonic() + 60
            while tail.poll() is None and time.monotonic() < deadline:
                httpx.post(f"{base_url}/v1/identify", json={"userId": "u1"}, auth=auth)
                message = {"userId": "u1", "event": f"E{number}"}
                assert httpx.post(f"{base_url}/v1/track", json=message, auth=auth).is_success
                number += 1
                time.sleep(0.3)
            out, err = tail.communicate(timeout=10)
        finally:
            tail.kill()
    assert tail.returncode == 0, err
    names = [line.split("  ")[2] for line in out.strip().splitlines()]
    assert len(names) == 2  # only track events, as they arrived
    first = int(names[0].removeprefix("E"))
    assert names == [f"E{first}", f"E{first + 1}"]
