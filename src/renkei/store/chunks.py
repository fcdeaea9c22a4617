"""Many rows per statement, in a few row counts only.

A many-row ``INSERT ... VALUES (...), (...)`` or ``... IN (?, ?)`` is a different
statement for every row count, and SQLite's driver keeps the prepared form of the last
256 it ran on each connection. Prepared, a 500-row insert into ``events`` holds about
half a megabyte: a connection that met every count from 1 to 500, as varied batch
sizes make the group committer's groups, grew by 119 MB. Rows therefore go out in chunks
whose sizes are powers of two, at most :data:`MOST_ROWS`: a statement is prepared in at
most nine sizes (docs/benchmarks.md, session 12). A lookup's ``IN`` list is padded to a
power of two instead (a value twice in ``IN`` matches once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["MOST_ROWS", "padded_to_power_of_two", "power_of_two_chunks"]

MOST_ROWS = 256  # x a few dozen columns: well under SQLite's 32,766 parameters

T = TypeVar("T")


def power_of_two_chunks(items: Sequence[T]) -> list[Sequence[T]]:
    """``items`` in order, in chunks of :data:`MOST_ROWS`, then the powers of two that
    make up the rest, largest first (300 rows: 256, 32, 8, 4)."""
    chunks: list[Sequence[T]] = []
    start, size = 0, MOST_ROWS
    while start < len(items):
        while size > len(items) - start:
            size //= 2
        chunks.append(items[start : start + size])
        start += size
    return chunks


def padded_to_power_of_two(values: Sequence[T]) -> list[T]:
    """``values``, the last one repeated until their number is a power of two."""
    if not values:
        return []
    size = 1 << (len(values) - 1).bit_length()
    return [*values, *[values[-1]] * (size - len(values))]
