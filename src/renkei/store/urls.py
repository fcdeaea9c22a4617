"""What a database URL names: a backend Renkei supports, and the file an embedded
database lives in (for the CLI's checks and messages)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["URL_HINT", "database_file", "unsupported_backend"]

_BACKENDS = ("sqlite", "postgresql", "postgres")
URL_HINT = "use sqlite:///path/renkei.db or postgresql://user:password@host:5432/name"


def unsupported_backend(url: str) -> str | None:
    """The URL's scheme when Renkei cannot use it, else None."""
    scheme = url.partition(":")[0].partition("+")[0]
    return None if scheme in _BACKENDS else scheme


def database_file(url: str) -> Path | None:
    """The file of an embedded (SQLite) database; None for a server or in-memory one."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))
