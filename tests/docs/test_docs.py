"""The README's tour and the shell blocks of docs/ run, as a user pastes them.

Each page's runnable blocks run top to bottom in one ``bash`` (``set -euo pipefail``: a
failing command, an unset variable or a failed ``curl -f`` fails the test), in a temporary
copy of the repository whose ``.venv`` is the repository's own, with ``.venv/bin`` first on
``PATH`` (as after ``source .venv/bin/activate``), no ``RENKEI_*`` settings but
``RENKEI_PORT``, and its own ``XDG_CONFIG_HOME``/``XDG_STATE_HOME``. How ports are changed
and how blocks are tagged as not runnable: tests/docs/blocks.py. A page whose blocks do not
start Renkei themselves gets one started first, with an admin token in ``$TOKEN`` and
``$RENKEI_ADMIN_TOKEN``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server import free_port

from .blocks import (
    RENKEI_PORT,
    ROOT,
    Block,
    documented_ports,
    pages,
    runnable,
    shell_blocks,
    starts_server,
    with_ports,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

ADMIN_TOKEN = "rk_admin_docs-test-token-0123456789"
RUN_SECONDS = 300

# Pages that fail until another engineer's fix lands: strict, so they flip to a failure
# ("XPASS(strict)") the day the fix lands and this entry must go.
PENDING: dict[str, str] = {}

_SERVER = f"""\
export RENKEI_ADMIN_TOKEN={ADMIN_TOKEN} TOKEN={ADMIN_TOKEN} RENKEI_ALLOW_PRIVATE_TARGETS=true
renkei serve >"$DOCTEST_DIR/serve.log" 2>&1 &
for _ in $(seq 240); do curl -fsS localhost:8787/readyz >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS localhost:8787/readyz >/dev/null
"""


def _pages_to_run() -> list[str]:
    return [page for page in pages() if runnable(page)]


def _param(page: str) -> object:
    marks = [pytest.mark.xfail(reason=PENDING[page], strict=True)] if page in PENDING else []
    return pytest.param(page, id=page, marks=marks)


def test_every_doctest_marker_is_understood() -> None:
    """A misspelt marker would silently run a block meant to be skipped, or the reverse."""
    for page in pages():
        for block in shell_blocks(page):  # raises MarkerError on a marker without a reason
            assert block.skip is None or block.skip


def test_the_readme_tour_is_run() -> None:
    assert "README.md" in _pages_to_run()
    assert starts_server(runnable("README.md"))


@pytest.fixture(scope="session")
def venv_ready() -> None:
    """The repository's .venv is installed and stamped, so the copies' scripts/setup (which
    shares that .venv) finds it up to date and never installs the copy in its place."""
    lock = ROOT / ".venv" / ".renkei-setup.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        subprocess.run([str(ROOT / "scripts" / "setup"), "test"], check=True, timeout=900)
    stamp = (ROOT / ".venv" / ".renkei-setup").read_text().split()
    assert stamp[0] == hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


@pytest.fixture
def workdir(tmp_path: Path, venv_ready: None) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("README.md", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)
    for name in ("scripts", "examples", "docs"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".venv").symlink_to(ROOT / ".venv")
    (repo / "src").symlink_to(ROOT / "src")
    return repo


def _script(blocks: list[Block], ports: dict[str, int]) -> str:
    parts = ["set -euo pipefail\n"]
    if not starts_server(blocks):
        parts.append(with_ports(_SERVER, ports))
    for block in blocks:
        parts.append(f'echo "=== {block.where}" >&2\n')
        parts.append(with_ports(block.text, ports))
    return "".join(parts)


@pytest.fixture
def run_page(workdir: Path, tmp_path: Path) -> Iterator[Callable[[str], tuple[int, str]]]:
    processes: list[subprocess.Popen[bytes]] = []

    def run(page: str) -> tuple[int, str]:
        blocks = runnable(page)
        ports = {port: free_port() for port in documented_ports(blocks)}
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["RENKEI_PORT"] = str(ports[RENKEI_PORT])
        env["DOCTEST_DIR"] = str(tmp_path)
        # What `renkei serve` records for the CLI (the data directory) stays in this test.
        env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
        env["XDG_STATE_HOME"] = str(tmp_path / "state")
        # No package index: scripts/serve must start on the installed .venv (and pip can
        # never install this copy into the shared .venv in place of the repository).
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS="")
        script = tmp_path / "page.sh"
        script.write_text(_script(blocks, ports))
        output = tmp_path / "output.txt"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", str(script)],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: background servers included
            )
            processes.append(process)
            try:
                code = process.wait(timeout=RUN_SECONDS)
            except subprocess.TimeoutExpired:
                code = -1
        text = output.read_text(errors="replace")
        log = tmp_path / "serve.log"
        if code != 0 and log.exists():
            text += "\n--- serve.log (tail)\n" + log.read_text(errors="replace")[-3000:]
        return code, text

    yield run
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.mark.parametrize("page", [_param(page) for page in _pages_to_run()])
def test_page_runs(page: str, run_page: Callable[[str], tuple[int, str]]) -> None:
    code, output = run_page(page)
    assert code == 0, f"{page}: exit {code} (-1: timed out)\n{output[-6000:]}"
