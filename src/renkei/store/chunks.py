"""Many rows per statement, in a few row counts only.

A many-row ``INSERT ... VALUES (...), (...)`` or ``... IN (?, ?)`` is a different
statement for every row count, and SQLite's driver keeps the prepared form of the last
256 it ran on each connection. Prepared, a 500-row insert into ``events`` holds about
half a megabyte: a connection that met every count from 1 to 500, as varied batch
sizes make the group committer's groups, grew by 118 MB (docs/benchmarks.md, session 12).

So rows go out in chunks of at most :data:`MOST_ROWS`, then of the powers of two that fit,
and what is left once it is :data:`EXACT_UP_TO` rows or fewer goes in one chunk: small
statements are cheap to keep, and the usual small group stays one statement. Twenty sizes
in all. A lookup's ``IN`` list is padded to the same sizes instead (a value twice in
``IN`` matches once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["EXACT_UP_TO", "MOST_ROWS", "few_sized_chunks", "padded_to_few_sizes"]

MOST_ROWS = 256  # x a few dozen columns: well under SQLite's 32,766 parameters
EXACT_UP_TO = 16

T = TypeVar("T")


def few_sized_chunks(items: Sequence[T]) -> list[Sequence[T]]:
    """``items`` in order, in chunks of the few sizes (300 rows: 256, 32, 12)."""
    chunks: list[Sequence[T]] = []
    start, size = 0, MOST_ROWS
    while len(items) - start > EXACT_UP_TO:
        while size > len(items) - start:
            size //= 2
        chunks.append(items[start : start + size])
        start += size
    if start < len(items):
        chunks.append(items[start:])
    return chunks


def padded_to_few_sizes(values: Sequence[T]) -> list[T]:
    """``values``; past :data:`EXACT_UP_TO` of them, the last one repeated until their
    number is a power of two."""
    if len(values) <= EXACT_UP_TO:
        return list(values)
    size = 1 << (len(values) - 1).bit_length()
    return [*values, *[values[-1]] * (size - len(values))]
