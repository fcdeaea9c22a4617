"""Coalescing many concurrent calls into one statement (the worker runs up to
``worker_concurrency`` deliveries at once; each needs its delivery row).

The first caller in an event loop becomes the leader: it yields once so the calls made in
the same tick can join, and runs one query for all of them. Once its own answer is in it
returns, and a background task takes over the lead while calls are still queued (a
leader that served everyone queued behind it would wait as long as the load lasts).
Each caller gets its own answer, or the query's exception.
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
        self._successors: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._pending.setdefault(loop, []).append((key, future))
        if loop not in self._leading:
            self._leading.add(loop)
            await asyncio.sleep(0)
            await self._lead(loop, until=future)
        return await future

    async def _lead(
        self, loop: asyncio.AbstractEventLoop, until: asyncio.Future[V | None] | None = None
    ) -> None:
        try:
            while self._pending.get(loop) and (until is None or not until.done()):
                queued = self._pending[loop]
                batch, self._pending[loop] = queued[: self._limit], queued[self._limit :]
                await self._run(batch)
        finally:
            if self._pending.get(loop):
                task = loop.create_task(self._lead(loop))
                self._successors.add(task)
                task.add_done_callback(self._successors.discard)
            else:
                self._leading.discard(loop)
                self._pending.pop(loop, None)

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
