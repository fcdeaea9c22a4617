"""Times the API reads: a time without a zone (``2026-07-15``, ``2026-07-15T10:00:00``) is UTC.

Every stored time is an aware UTC datetime (``store.types.UTCDateTime`` refuses naive ones),
so a query parameter or body field that takes a time declares :data:`UtcDatetime`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["UtcDatetime"]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
