"""Without the vendor spec files, the contract tests skip and the test run says so in its
summary, by file and count (tests/conftest.py's ``pytest_terminal_summary``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_missing_specs_are_named_and_counted(tmp_path: Path) -> None:
    empty = tmp_path / "no-specs"
    empty.mkdir()
    env = {**os.environ, "RENKEI_TEST_VENDOR_SPECS": str(empty)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/connectors/test_vendor_contract.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=380,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:]
    skipped = int(re.search(r"(\d+) skipped in", out).group(1))  # type: ignore[union-attr]
    assert "vendor specs missing" in out
    assert f"{skipped} tests skipped: " in out
    assert str(empty) in out
    counts = dict(re.findall(r"^  (\S+\.json): (\d+) tests? skipped$", out, re.M))
    assert {"marketo/swagger-identity.json", "hubspot/contacts-v3.json"} <= counts.keys()
    assert sum(int(count) for count in counts.values()) == skipped
