"""The coalescer behind delivery loads: one query for the calls of a tick, answers for each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from renkei.delivery.coalescing import Coalescer


class Fetches:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    async def __call__(self, keys: Sequence[int]) -> dict[int, str]:
        self.batches.append(list(keys))
        await asyncio.sleep(self.delay)
        return {key: f"row {key}" for key in keys if key >= 0}


async def test_calls_of_one_tick_share_one_query_and_each_gets_its_answer() -> None:
    fetches = Fetches()
    coalescer: Coalescer[int, str] = Coalescer(fetches)
    answers = await asyncio.gather(*(coalescer.get(key) for key in (1, 2, 2, -1)))
    assert answers == ["row 1", "row 2", "row 2", None]
    assert fetches.batches == [[1, 2, -1]]


async def test_a_leader_returns_with_its_answer_while_others_keep_arriving() -> None:
    fetches = Fetches(delay=0.01)
    coalescer: Coalescer[int, str] = Coalescer(fetches)
    stop = asyncio.Event()
    later: list[asyncio.Task[str | None]] = []

    async def steady_load() -> None:
        key = 100
        while not stop.is_set():
            later.append(asyncio.create_task(coalescer.get(key)))
            key += 1
            await asyncio.sleep(0.002)

    leader = asyncio.create_task(coalescer.get(1))  # the first call: it leads
    load = asyncio.create_task(steady_load())
    done, _ = await asyncio.wait([leader], timeout=5.0)
    assert done, "the leader waited on everyone queued behind it"
    assert leader.result() == "row 1"
    assert not stop.is_set() and not load.done()  # it came back while the load went on
    stop.set()
    await load
    assert [await task for task in later] == [f"row {100 + n}" for n in range(len(later))]


async def test_a_failed_query_fails_every_call_of_its_batch() -> None:
    async def broken(keys: Sequence[int]) -> dict[int, str]:
        raise RuntimeError("database away")

    coalescer: Coalescer[int, str] = Coalescer(broken)
    results = await asyncio.gather(coalescer.get(1), coalescer.get(2), return_exceptions=True)
    assert [type(result) for result in results] == [RuntimeError, RuntimeError]
    with pytest.raises(RuntimeError):
        await coalescer.get(3)
