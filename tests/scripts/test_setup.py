"""``scripts/setup`` runs pip only when ``.venv`` is missing, incomplete or out of date, so
``scripts/serve`` starts without a package index once the project is installed.

The script runs for real on a small stand-in project (same build backend, a ``renkei``
console script) in a temporary directory: the first run installs from the machine's
configured package sources; later runs get an environment in which pip cannot reach any
index (config files ignored, ``PIP_NO_INDEX``, the index URL on a closed local port), so
any pip install fails and shows up as a failed run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "renkei-setup-probe"
version = "0.1.0"
requires-python = ">=3.11"

[project.optional-dependencies]
test = []

[project.scripts]
renkei = "probe:main"

[tool.hatch.build.targets.wheel]
packages = ["src/probe"]
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "setup", project / "scripts" / "setup")
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "src" / "probe").mkdir(parents=True)
    (project / "src" / "probe" / "__init__.py").write_text("def main() -> None:\n    pass\n")
    return project


def _setup(project: Path, *args: str, offline: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PYTHON"] = sys.executable
    if offline:
        for name in [k for k in env if k.startswith("PIP_")]:
            del env[name]
        env["PIP_CONFIG_FILE"] = os.devnull
        env["PIP_NO_INDEX"] = "1"
        env["PIP_INDEX_URL"] = f"http://127.0.0.1:{free_port()}/simple"  # nothing listens
    return subprocess.run(
        ["bash", "scripts/setup", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )


def test_second_run_needs_no_package_index(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = _setup(project, "test", offline=False)
    assert first.returncode == 0, first.stderr
    assert (project / ".venv" / "bin" / "renkei").exists()

    again = _setup(project, "test", offline=True)
    assert again.returncode == 0, again.stderr
    base = _setup(project, offline=True)  # the test extra includes the base install
    assert base.returncode == 0, base.stderr

    # Out of date: pyproject.toml changed, so pip runs (and fails with no index to reach).
    with (project / "pyproject.toml").open("a") as file:
        file.write("# changed\n")
    stale = _setup(project, offline=True)
    assert stale.returncode != 0


def test_an_extra_not_installed_yet_runs_pip(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = _setup(project, offline=False)
    assert first.returncode == 0, first.stderr
    assert _setup(project, offline=True).returncode == 0
    assert _setup(project, "test", offline=True).returncode != 0
