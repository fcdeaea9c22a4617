"""``renkei endpoints | events publish | deliveries resend | recover`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from renkei.security.keyring import generate_key

pytestmark = pytest.mark.slow


def test_cli_endpoint_lifecycle(database_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_LOG_LEVEL": "warning",
        # The endpoint below is on loopback: refused, as by the API, unless allowed.
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
    }

    def renkei(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "renkei", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=check,
        )

    endpoint_id = renkei(
        "endpoints",
        "create",
        "--name",
        "crm",
        "--url",
        "http://127.0.0.1:9/hook",
        "-t",
        "receipt.receipt_validated",
    ).stdout.strip()
    assert endpoint_id.startswith("ep_")
    assert "crm" in renkei("endpoints", "list").stdout
    published = json.loads(
        renkei(
            "events",
            "publish",
            "-t",
            "receipt.receipt_validated",
            "--data",
            '{"receipt_id": "r1"}',
            "--id",
            "evt-cli-1",
        ).stdout
    )
    assert published["id"] == "evt-cli-1" and published["deliveries"] == 1
    assert "paused" in renkei("endpoints", "pause", endpoint_id).stdout
    assert "resumed" in renkei("endpoints", "resume", endpoint_id).stdout
    assert renkei("endpoints", "rotate-secret", endpoint_id).stdout.strip().startswith("whsec_")
    recovered = renkei("recover", "--endpoint", endpoint_id, "--since", "2020-01-01T00:00:00Z")
    assert "0 deliveries queued again" in recovered.stdout
    missing = renkei("deliveries", "resend", "dlv_nope", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bad = renkei("events", "publish", "-t", "x", "--data", "{", check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1  # one line, no usage box
