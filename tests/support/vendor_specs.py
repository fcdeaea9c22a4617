"""The vendors' own API descriptions the contract tests check requests and responses against.

Looked up in ``tests/vendor-specs/`` (vendored, with their licences: Marketo and Klaviyo),
then in ``../shared/vendor-specs/`` next to the repository (HubSpot's, which are not
vendored: their collection states no licence). ``RENKEI_TEST_VENDOR_SPECS`` replaces both
with one directory. A test whose spec file is in none of them is skipped with the reason
``vendor spec missing: <file>``, and the test run's summary lists those files and how many
tests each one skipped (``pytest_terminal_summary`` in tests/conftest.py).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

__all__ = ["MISSING_PREFIX", "load_spec", "missing_spec", "search_path"]

ROOT = Path(__file__).resolve().parents[2]
MISSING_PREFIX = "vendor spec missing: "
_MISSING = re.compile(re.escape(MISSING_PREFIX) + r"(\S+)")


def search_path() -> list[Path]:
    override = os.environ.get("RENKEI_TEST_VENDOR_SPECS")
    if override:
        return [Path(override)]
    return [ROOT / "tests" / "vendor-specs", ROOT.parent / "shared" / "vendor-specs"]


@functools.cache
def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def load_spec(relative: str) -> dict[str, Any]:
    """The parsed spec file ``relative`` (e.g. ``marketo/swagger-mapi.json``), or a skip."""
    for directory in search_path():
        path = directory / relative
        if path.exists():
            return _read(path)
    looked = ", ".join(str(directory) for directory in search_path())
    pytest.skip(f"{MISSING_PREFIX}{relative} (looked in {looked})")


def missing_spec(reason: str) -> str | None:
    """The spec file a skip reason names, when it is one of ours."""
    found = _MISSING.search(reason)
    return found.group(1) if found else None
