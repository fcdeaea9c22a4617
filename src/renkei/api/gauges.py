"""Gauges read from the database when ``/metrics`` is scraped: the queue's backlog and dead
letter by task, open alerts by kind.

Read at most every :data:`REFRESH_SECONDS` per hub (several Prometheus servers, or a fast
scrape interval, cost one grouped query each), on the serving loop, before the registry is
rendered; a failed read keeps the last values and is logged.
"""

from __future__ import annotations

import time
import weakref
from collections import Counter

import structlog

from renkei.hub import Hub
from renkei.observability.metrics import DATABASE_GAUGES
from renkei.queue import backlog_by_task

__all__ = ["REFRESH_SECONDS", "refresh"]

REFRESH_SECONDS = 5.0
_MAX_OPEN_ALERTS = 1000

log = structlog.get_logger("renkei.metrics")

_read_at: weakref.WeakKeyDictionary[Hub, float] = weakref.WeakKeyDictionary()


async def refresh(hub: Hub) -> None:
    """Update the gauges from the database unless they were read moments ago."""
    now = time.monotonic()
    if now - _read_at.get(hub, -REFRESH_SECONDS) < REFRESH_SECONDS:
        return
    _read_at[hub] = now
    try:
        async with hub.database.read() as connection:
            backlog = await backlog_by_task(connection, hub.clock.now())
        alerts = [
            alert
            for status in ("open", "acknowledged")
            for alert in await hub.alerts.list(
                limit=_MAX_OPEN_ALERTS, after=None, status=status, kind=None
            )
        ]
    except Exception as exc:  # a scrape must answer: the last values stay
        log.warning("metrics.gauges_unreadable", error=repr(exc))
        return
    at = hub.clock.now()
    DATABASE_GAUGES.update(
        pending={task: jobs.pending for task, jobs in backlog.items()},
        dead={task: jobs.dead for task, jobs in backlog.items()},
        oldest_seconds={
            task: max(0.0, (at - jobs.oldest_due).total_seconds())
            if jobs.oldest_due is not None
            else 0.0
            for task, jobs in backlog.items()
        },
        alerts_open=Counter((a.kind, a.status) for a in alerts),
    )
