"""``renkei serve`` with a port no socket can have (``--port 99999``, ``RENKEI_PORT=99999``):
one line and exit 1, not "unexpected OverflowError (a bug in Renkei)"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("arguments", "environment", "said"),
    [
        (["--port", "99999"], {}, "--port"),
        ([], {"RENKEI_PORT": "99999"}, "RENKEI_PORT"),
    ],
)
def test_a_port_out_of_range_is_one_line_and_exit_1(
    tmp_path: Path, arguments: list[str], environment: dict[str, str], said: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    env["RENKEI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'renkei.db'}"
    env["RENKEI_DATA_DIR"] = str(tmp_path)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env.update(environment)
    done = subprocess.run(
        [sys.executable, "-m", "renkei", "serve", *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bug in Renkei" not in done.stderr and "listening on" not in done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and said in errors[0] and "65535" in errors[0], done.stderr


def test_a_taken_port_is_said_as_an_error(tmp_path: Path) -> None:
    """Like every other refusal of the CLI, the line starts with ``error:``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    env["RENKEI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'renkei.db'}"
    env["RENKEI_DATA_DIR"] = str(tmp_path)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "renkei", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=100,
        )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}"), done.stderr
