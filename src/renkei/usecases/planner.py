"""The quota planner's picture of a connection's vendor day, as the dashboard draws it: the
quota (used, budget, projected, mode) and the calls of each hour, batch against realtime.

Batch calls are the calls of the connection's sync runs (scheduled or run by hand), by the
hour each run started. Realtime calls are the rest of the day's used quota: realtime pushes
and flows' connector actions, made as changes happen. They are counted per day, not per
hour, so the picture gives their average over the hours gone by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from renkei.usecases.access import Actor, require
from renkei.usecases.syncs import quota

if TYPE_CHECKING:
    from renkei.hub import Hub
    from renkei.syncs.model import Sync

__all__ = ["DayPicture", "HourCalls", "day_picture"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_PAGE = 200


@dataclass(frozen=True, slots=True)
class HourCalls:
    start: datetime
    batch: int
    elapsed: bool  # the hour has begun (later hours of the day are still empty)


@dataclass(frozen=True, slots=True)
class DayPicture:
    quota: dict[str, Any]  # renkei.usecases.syncs.quota: limit, used, budget, projected, mode
    day_start: datetime
    hours: list[HourCalls]
    batch: int
    realtime: int

    @property
    def hours_gone(self) -> int:
        return sum(1 for hour in self.hours if hour.elapsed)

    @property
    def realtime_per_hour(self) -> float:
        return self.realtime / max(1, self.hours_gone)

    @property
    def budget_per_hour(self) -> float | None:
        budget = self.quota.get("budget")
        return None if budget is None else budget / 24


async def _syncs_of(hub: Hub, names: set[str]) -> list[Sync]:
    found: list[Sync] = []
    after: str | None = None
    while True:
        page = await hub.syncs.list(limit=_PAGE, after=after)
        found += [sync for sync in page if sync.connection in names]
        if len(page) < _PAGE:
            return found
        after = page[-1].id


async def _batch_calls(hub: Hub, sync: Sync, since: datetime) -> list[tuple[datetime, int]]:
    """(started, calls) of the sync's non-realtime runs started since ``since``, newest
    first, read page by page on the (sync, id) index until a run is older."""
    found: list[tuple[datetime, int]] = []
    before: str | None = None
    while True:
        runs = await hub.syncs.runs(sync.id, limit=_PAGE, before=before)
        for run in runs:
            if run.started_at is None or run.started_at < since:
                return found
            if run.trigger != "realtime":
                found.append((run.started_at, run.counts.get("calls", 0)))
        if len(runs) < _PAGE:
            return found
        before = runs[-1].id


async def day_picture(hub: Hub, actor: Actor, connection_ref: str) -> DayPicture:
    """The current vendor day of ``connection_ref`` (the last 24 hours when it has no daily
    quota), hour by hour."""
    require(actor, "read")
    status = await quota(hub, actor, connection_ref)
    now = hub.clock.now()
    resets_at = status.get("resets_at")
    if resets_at:
        day_start = datetime.fromisoformat(str(resets_at)) - DAY
    else:
        day_start = now.replace(minute=0, second=0, microsecond=0) - 23 * HOUR
    hours = {index: 0 for index in range(24)}
    batch = 0
    names = {str(status["connection"]), connection_ref}
    for sync in await _syncs_of(hub, names):
        for started, calls in await _batch_calls(hub, sync, day_start):
            index = int((started - day_start) / HOUR)
            if 0 <= index < 24:
                hours[index] += calls
                batch += calls
    used = int(status.get("used") or 0)
    return DayPicture(
        quota=status,
        day_start=day_start,
        hours=[
            HourCalls(day_start + index * HOUR, calls, day_start + index * HOUR <= now)
            for index, calls in hours.items()
        ],
        batch=batch,
        realtime=max(0, used - batch) if status.get("limit") is not None else 0,
    )
