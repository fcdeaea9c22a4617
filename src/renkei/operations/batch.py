"""What one batch of an operation did, and the filter's time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement

from renkei.events.envelope import parse_timestamp

__all__ = ["BATCH_SIZE", "Batch", "moment", "window"]

BATCH_SIZE = 200
"""Items per transaction: big enough to move fast, small enough to hold no lock for long."""


@dataclass(frozen=True)
class Batch:
    cursor: Any
    """The last item handled (None: there was nothing left)."""
    done: int = 0
    """Items handled, including the skipped and the failed."""
    skipped: int = 0
    """Nothing to do: already sent, already succeeded, not matching any more."""
    failed: int = 0
    """Could not be done (a disabled endpoint, a deleted flow or event)."""


def moment(value: Any) -> datetime | None:
    return None if value is None else parse_timestamp(value)


def window(column: Any, filter: dict[str, Any]) -> list[ColumnElement[bool]]:
    """``since`` (inclusive) and ``until`` (exclusive) of a stored filter, on ``column``."""
    clauses: list[ColumnElement[bool]] = []
    if (since := moment(filter.get("since"))) is not None:
        clauses.append(column >= since)
    if (until := moment(filter.get("until"))) is not None:
        clauses.append(column < until)
    return clauses
