from __future__ import annotations

import functools
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx._transports.default
import pytest
import structlog

from renkei.store import Database
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.postgres import destroy_suite_cluster
from tests.support.vendor_specs import missing_spec, search_path

# httpx builds a new SSL context for every Client, reading certifi's CA bundle (about
# 20 ms), and ``httpx.get``/``httpx.post`` make a Client per call: a sixth of some modules'
# time. The suite's contexts are all the default one or an unverifying one; one each does.
_create_ssl_context = httpx._transports.default.create_ssl_context


@functools.cache
def _cached_ssl_context(verify: bool, trust_env: bool) -> object:
    return _create_ssl_context(verify=verify, trust_env=trust_env)


def _ssl_context(verify: object = True, cert: object = None, trust_env: bool = True) -> object:
    if cert is None and isinstance(verify, bool):
        return _cached_ssl_context(verify, trust_env)
    return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)  # type: ignore[arg-type]


httpx._transports.default.create_ssl_context = _ssl_context  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults: a CLI test that configured logging
    (level, output stream) must not change what the next test's logs look like."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(Path(tmp_path_factory.mktemp("databases")))
    yield factory
    factory.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(database_factory: DatabaseFactory, backend: str) -> str:
    """A fresh, migrated database on each backend."""
    return database_factory.new_url(backend)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


def pytest_unconfigure() -> None:
    destroy_suite_cluster()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which vendor spec files were missing and how many tests skipped for each, so a
    clone without them does not pass 28 fewer contract tests in silence."""
    skipped: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        name = missing_spec(str(reason))
        if name:
            skipped[name] += 1
    if not skipped:
        return
    total = sum(skipped.values())
    terminalreporter.write_sep("=", "vendor specs missing", yellow=True)
    terminalreporter.write_line(
        f"{total} test{'s' if total != 1 else ''} skipped: {len(skipped)} vendor spec "
        f"file{'s' if len(skipped) != 1 else ''} not found in "
        + " or ".join(str(directory) for directory in search_path())
    )
    for name, count in sorted(skipped.items()):
        terminalreporter.write_line(f"  {name}: {count} test{'s' if count != 1 else ''} skipped")
