"""A per-process cache of database lookups by key, for the hot paths (write keys, webhook
sources, API tokens).

An entry is fresh for ``ttl`` seconds. When it expires, the next caller reads it again
while callers arriving meanwhile keep the old value, instead of every request in flight
reading the same row at once (under load that herd of reads was the slowest 1 % of
tracking requests). :meth:`LookupCache.clear` drops everything, and a read that was
already under way when it ran is not cached.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["LookupCache"]

V = TypeVar("V")


class LookupCache(Generic[V]):
    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, V]] = {}
        self._generation = 0

    def clear(self) -> None:
        self._entries.clear()
        self._generation += 1

    async def get(self, key: str, load: Callable[[str], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        now = self._monotonic()
        if entry is not None and entry[0] >= now:
            return entry[1]
        if entry is not None:
            # Expired: this caller reads; the ones arriving meanwhile keep the old value.
            self._entries[key] = (now + self.ttl, entry[1])
        generation = self._generation
        try:
            value = await load(key)
        except BaseException:
            if entry is not None and self._generation == generation:
                self._entries[key] = entry  # still expired: the next caller tries again
            raise
        if self._generation == generation:
            if key not in self._entries and len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (self._monotonic() + self.ttl, value)
        return value
