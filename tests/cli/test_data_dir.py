"""Where the data lives (issue 14, task 4): the CLI run from another directory finds the
database and the secret key ``renkei serve`` uses, says which database it uses, and never
creates one (only ``serve`` and ``migrate`` do). Real processes, as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.cli.test_serve import wait_for
from tests.support.server import free_port

RENKEI = [sys.executable, "-m", "renkei"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        RENKEI_LOG_LEVEL="warning",
    )
    return env


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RENKEI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@contextmanager
def serving(env: dict[str, str], cwd: Path) -> Iterator[str]:
    port = free_port()
    log = (cwd.parent / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [*RENKEI, "serve", "--port", str(port)], env=env, cwd=cwd, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 200)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def assert_one_error(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "hint: " in done.stderr


def test_the_cli_uses_the_servers_database_and_key_from_any_directory(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    deeper = project / "deep" / "er"
    for folder in (deeper, elsewhere):
        folder.mkdir(parents=True)
    env = clean_env(tmp_path)

    # Nothing served yet: one line and a hint, and no database or key appears.
    missing = cli(env, elsewhere, "endpoints", "list")
    assert_one_error(missing, "no Renkei database at")
    assert "renkei serve" in missing.stderr
    assert list(elsewhere.iterdir()) == []

    with serving(env, project) as url:
        assert (project / "renkei.db").exists() and (project / "renkei-secret.key").exists()
        issued = cli(env, elsewhere, "token", "create", "--name", "admin", "--scope", "admin")
        assert issued.returncode == 0, issued.stderr
        assert f"database sqlite:///{project / 'renkei.db'}" in issued.stderr
        token = issued.stdout.strip()
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        assert api.get("/api/v1/tokens").status_code == 200  # the server's own database

        created = cli(
            env, deeper, "endpoints", "create", "--name", "crm", "--url", "https://c.example.com"
        )
        assert created.returncode == 0, created.stderr
        assert "found upward" in created.stderr
        endpoint_id = created.stdout.strip()
        revealed = api.get(f"/api/v1/endpoints/{endpoint_id}/secret")
        assert revealed.status_code == 200, revealed.text
        # The same key: the server and the CLI read the same secret.
        from_cli = cli(env, elsewhere, "endpoints", "secret", "crm")
        assert from_cli.stdout.strip() == revealed.json()["key"]

    assert list(elsewhere.iterdir()) == [] and not (deeper / "renkei.db").exists()

    # RENKEI_DATA_DIR wins over every other rule; a missing one is an error, not a new file.
    empty = tmp_path / "empty"
    empty.mkdir()
    pointed = cli({**env, "RENKEI_DATA_DIR": str(empty)}, project, "endpoints", "list")
    assert_one_error(pointed, f"no Renkei database at {empty / 'renkei.db'}")
    # `migrate` creates one where it is run, as `serve` does.
    assert cli({**env, "RENKEI_DATA_DIR": str(empty)}, project, "migrate").returncode == 0
    assert (empty / "renkei.db").exists() and (empty / "renkei-secret.key").exists()


def test_the_cli_names_the_command_that_recorded_the_data_directory(tmp_path: Path) -> None:
    # `migrate` records its directory as `serve` does; the line saying which database a
    # command uses named `renkei serve` whichever did, sending a user after a server that
    # never ran there.
    env = clean_env(tmp_path)
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    assert cli(env, project, "migrate").returncode == 0
    listed = cli(env, elsewhere, "sources", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"database sqlite:///{project / 'renkei.db'}" in listed.stderr
    assert "recorded by `renkei migrate`" in listed.stderr, listed.stderr
