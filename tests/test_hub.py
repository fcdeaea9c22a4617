"""The hub's own lifecycle: what stop() closes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from renkei.hub import Hub
from tests.support.server import test_settings as settings_for


async def test_stop_runs_every_closer_even_after_one_fails(database_url: str) -> None:
    hub = Hub(settings_for(database_url), features=())
    closed: list[str] = []

    def closer(name: str, *, fails: bool = False) -> Callable[[], Awaitable[None]]:
        async def close() -> None:
            closed.append(name)
            if fails:
                raise RuntimeError("already gone")

        return close

    hub.closers += [closer("first", fails=True), closer("second")]
    await hub.start(with_worker=False)
    await hub.stop()
    assert closed == ["first", "second"]
