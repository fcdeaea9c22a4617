"""The dialect lives in store/: outside it, no module names a backend (issue 15)."""

from __future__ import annotations

import re
from pathlib import Path

import renkei

SOURCE = Path(renkei.__file__).parent
NAMES = re.compile(r"sqlite|postgres|dialect|asyncpg|aiosqlite", re.IGNORECASE)
# settings is the lowest layer, below store: its default RENKEI_DATABASE_URL is a URL.
EXCEPTIONS = {Path("settings.py")}


def test_no_module_outside_store_names_a_dialect() -> None:
    naming = sorted(
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if path.relative_to(SOURCE).parts[0] != "store"
        and path.relative_to(SOURCE) not in EXCEPTIONS
        and NAMES.search(path.read_text())
    )
    assert naming == []
