"""Coalescing many concurrent calls into one statement (the worker runs up to
``worker_concurrency`` deliveries at once; each needs its delivery row).

The first caller in an event loop becomes the leader: it yields once so the calls made in
the same tick can join, runs one query for all of them, and keeps going while more calls
queue up behind it. Each caller gets its own answer, or the query's exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

__all__ = ["Coalescer"]


class Coalescer(Generic[K, V]):
    def __init__(
        self, fetch: Callable[[Sequence[K]], Awaitable[dict[K, V]]], *, limit: int = 500
    ) -> None:
        self._fetch = fetch
        self._limit = limit
        self._pending: dict[
            asyncio.AbstractEventLoop, list[tuple[K, asyncio.Future[V | None]]]
        ] = {}
        self._leading: set[asyncio.AbstractEventLoop] = set()

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._pending.setdefault(loop, []).append((key, future))
        if loop not in self._leading:
            self._leading.add(loop)
            try:
                await asyncio.sleep(0)
                while self._pending.get(loop):
                    queued = self._pending[loop]
                    batch, self._pending[loop] = queued[: self._limit], queued[self._limit :]
                    await self._run(batch)
            finally:
                self._leading.discard(loop)
                if not self._pending.get(loop):
                    self._pending.pop(loop, None)
        return await future

    async def _run(self, batch: list[tuple[K, asyncio.Future[V | None]]]) -> None:
        try:
            found = await self._fetch(list(dict.fromkeys(key for key, _ in batch)))
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for key, future in batch:
            if not future.done():
                future.set_result(found.get(key))
