"""The ingest lookup cache: fresh hits, one re-read per expiry, failures, invalidation."""

from __future__ import annotations

import asyncio

import pytest

from renkei.lookups import LookupCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A lookup that counts its reads and can be held mid-read."""

    def __init__(self) -> None:
        self.value = "v1"
        self.reads = 0
        self.release = asyncio.Event()
        self.release.set()
        self.failing = False

    async def load(self, key: str) -> str:
        self.reads += 1
        await self.release.wait()
        if self.failing:
            raise OSError("database unreachable")
        return f"{key}={self.value}"


async def test_fresh_entries_are_not_read_again() -> None:
    clock, source = Clock(), Source()
    cache: LookupCache[str] = LookupCache(5, monotonic=clock)
    assert await cache.get("k", source.load) == "k=v1"
    clock.now += 4.9
    source.value = "v2"
    assert await cache.get("k", source.load) == "k=v1"
    assert source.reads == 1


async def test_an_expired_entry_is_read_once_while_others_keep_the_old_value() -> None:
    clock, source = Clock(), Source()
    cache: LookupCache[str] = LookupCache(5, monotonic=clock)
    await cache.get("k", source.load)
    clock.now += 6
    source.value = "v2"
    source.release.clear()
    refreshing = asyncio.create_task(cache.get("k", source.load))
    await asyncio.sleep(0)
    meanwhile = await asyncio.gather(*(cache.get("k", source.load) for _ in range(20)))
    assert meanwhile == ["k=v1"] * 20
    source.release.set()
    assert await refreshing == "k=v2"
    assert await cache.get("k", source.load) == "k=v2"
    assert source.reads == 2


async def test_a_failed_read_reaches_its_caller_and_the_next_caller_tries_again() -> None:
    clock, source = Clock(), Source()
    cache: LookupCache[str] = LookupCache(5, monotonic=clock)
    await cache.get("k", source.load)
    clock.now += 6
    source.failing = True
    with pytest.raises(OSError):
        await cache.get("k", source.load)
    source.failing = False
    source.value = "v2"
    assert await cache.get("k", source.load) == "k=v2"
    assert source.reads == 3


async def test_a_read_under_way_when_cleared_is_not_cached() -> None:
    clock, source = Clock(), Source()
    cache: LookupCache[str] = LookupCache(5, monotonic=clock)
    source.release.clear()
    reading = asyncio.create_task(cache.get("k", source.load))
    await asyncio.sleep(0)
    cache.clear()  # say: the source changed after that read started
    source.release.set()
    assert await reading == "k=v1"
    source.value = "v2"
    assert await cache.get("k", source.load) == "k=v2"


async def test_the_cache_stays_bounded() -> None:
    source = Source()
    cache: LookupCache[str] = LookupCache(5, max_entries=3, monotonic=Clock())
    for key in "abcd":
        await cache.get(key, source.load)
    assert source.reads == 4
    await cache.get("d", source.load)
    await cache.get("a", source.load)  # dropped when the fourth key came in
    assert source.reads == 5
