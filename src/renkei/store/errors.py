"""What a database error means to a caller: unreachable (retry later) or refused (bad data).

- :class:`DatabaseUnavailable` (an ``OperationalError``, so every ``except DBAPIError``
  already handles it): the database could not be reached or stopped answering in time;
  :class:`NoConnection`, its subclass, when no connection could be had at all.
  ``Database.read()``/``Database.transaction()`` raise it for every such failure, whatever
  the driver or the pool raised (a timeout, a connection cut mid-transaction, an exhausted
  pool), so callers answer 503 with ``Retry-After``.
- :func:`constraint_problem`: an ``IntegrityError`` (or a ``DataError``) described as the
  field it concerns, so the API answers 4xx naming it instead of "try again later".
- :func:`sqlstate`: the server's SQLSTATE code behind any of these, for callers that decide
  on it (retry a serialization failure, tell a refused login from a bad row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc

__all__ = [
    "ConstraintProblem",
    "DatabaseUnavailable",
    "NoConnection",
    "constraint_problem",
    "is_outage",
    "is_unavailable",
    "sqlstate",
]


class DatabaseUnavailable(sa_exc.OperationalError):
    """The database could not be reached, or did not answer within its timeout."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        orig = cause if isinstance(cause, Exception) else Exception(reason)
        super().__init__(None, None, orig, connection_invalidated=True)
        self.reason = reason

    def __str__(self) -> str:
        return f"database unavailable: {self.reason}"


class NoConnection(DatabaseUnavailable):
    """No connection could be had (connect, ping or pool wait timed out or failed): the
    caller's work never reached the database, so trying it again later is always safe."""


def _driver_unavailable(error: BaseException) -> bool:
    """A driver exception (not wrapped by SQLAlchemy) that means the connection is gone."""
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(
        error,
        asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.TooManyConnectionsError,
    )


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE code PostgreSQL gave for ``error`` (``"23505"``), None when there is none
    (SQLite has no SQLSTATE; a timeout or a refused socket never reached a server).

    Looks at the error itself (a driver error that escaped SQLAlchemy), at what SQLAlchemy
    wraps (``orig``: its asyncpg adapter copies the code there) and at what that wraps (the
    asyncpg error itself, the only carrier when the server refused the connection).
    """
    orig = getattr(error, "orig", None)
    for candidate in (error, orig, getattr(orig, "__cause__", None)):
        # asyncpg and psycopg name it ``sqlstate``; psycopg2 ``pgcode``.
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str) and state:
            return state
    return None


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database is unreachable (as opposed to refusing a row)."""
    if isinstance(error, DatabaseUnavailable):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.IntegrityError | sa_exc.DataError | sa_exc.ProgrammingError):
            return False
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        orig = error.orig
        return orig is not None and orig is not error and is_unavailable(orig)
    return isinstance(
        error,
        TimeoutError  # a statement or connect timeout (asyncio.TimeoutError is TimeoutError)
        | ConnectionError
        | sa_exc.TimeoutError  # no pooled connection came free in time
        | sa_exc.PendingRollbackError  # the connection died under an open transaction
        | sa_exc.DisconnectionError,
    ) or _driver_unavailable(error)


# SQLSTATE classes that refuse this process rather than say the server is away: a wrong
# password (28) or a database that does not exist (3D) stays so however long one waits.
_REFUSED_CLASSES = ("28", "3D")


def is_outage(error: BaseException) -> bool:
    """Whether waiting can fix ``error``: the database server is unreachable or not taking
    connections yet, not refusing this process's login or database name."""
    return is_unavailable(error) and (sqlstate(error) or "")[:2] not in _REFUSED_CLASSES


@dataclass(frozen=True, slots=True)
class ConstraintProblem:
    """A row the database refused: ``kind`` is ``not_null``, ``unique``, ``foreign_key``,
    ``check`` or ``invalid``; ``field`` the column, when the database names it."""

    kind: str
    field: str | None
    constraint: str | None = None

    @property
    def status(self) -> int:
        return 409 if self.kind == "unique" else 422

    @property
    def code(self) -> str:
        return {
            "not_null": "field_required",
            "unique": "conflict",
            "foreign_key": "invalid_reference",
            "check": "validation_failed",
        }.get(self.kind, "validation_failed")

    @property
    def message(self) -> str:
        name = self.field or "a field"
        return {
            "not_null": f"{name}: may not be null",
            "unique": f"{name}: this value is already used",
            "foreign_key": f"{name}: refers to something that does not exist",
            "check": f"{name}: value is not allowed",
        }.get(self.kind, f"{name}: value is not valid")

    @property
    def details(self) -> dict[str, Any]:
        return {"path": self.field, "constraint": self.constraint, "kind": self.kind}


_SQLITE = re.compile(
    r"(?P<kind>NOT NULL|UNIQUE|CHECK|FOREIGN KEY) constraint failed(?::\s*(?P<what>[^\n]*))?",
    re.IGNORECASE,
)
_SQLITE_KINDS = {
    "not null": "not_null",
    "unique": "unique",
    "check": "check",
    "foreign key": "foreign_key",
}
_PG_STATES = {
    "23502": "not_null",
    "23505": "unique",
    "23503": "foreign_key",
    "23514": "check",
}
_PG_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)")


def constraint_problem(error: sa_exc.DBAPIError) -> ConstraintProblem | None:
    """The refused field of an ``IntegrityError``/``DataError``; None for other errors."""
    if not isinstance(error, sa_exc.IntegrityError | sa_exc.DataError):
        return None
    orig = error.orig
    state = sqlstate(error)
    if state is not None:
        kind = _PG_STATES.get(state, "invalid")
        # asyncpg's exception (behind SQLAlchemy's adapter) names the column and constraint.
        driver = orig.__cause__ if orig is not None and orig.__cause__ is not None else orig
        field = getattr(driver, "column_name", None)
        if field is None:
            key = _PG_KEY.search(str(getattr(driver, "detail", "") or ""))
            if key is not None:
                field = key.group("columns").split(",")[-1].strip() or None
        return ConstraintProblem(kind, field, getattr(driver, "constraint_name", None))
    found = _SQLITE.search(str(orig))
    if found is None:
        return ConstraintProblem("invalid", None)
    kind = _SQLITE_KINDS[found.group("kind").lower()]
    what = (found.group("what") or "").strip()
    column: str | None = None
    if what and kind in ("not_null", "unique"):
        # "event_types.archived" or "endpoints.workspace, endpoints.name"
        column = what.split(",")[-1].strip().rpartition(".")[2] or None
    return ConstraintProblem(kind, column, what or None if kind == "check" else None)
