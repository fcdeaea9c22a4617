"""A simulated day of ``identify`` events against Marketo's daily quota, on a movable
clock: realtime pushes (24 h suppression per user), the 30-minute batch, and the quota
planner between them. Used by ``test_quota_day.py`` (scaled down) and
``bench/syncs_quota.py`` (the issue's full size)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from renkei.clock import ManualClock
from renkei.store.tables.core import events as events_table

from .harness import marketo, sync_rig

# Marketo's quota resets at midnight America/Chicago: 06:00 UTC in March 2026 (CST).
DAY_START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
WINDOW = 1800
WINDOWS = 48
UPSERT = "POST /rest/v1/leads.json"


@dataclass(frozen=True)
class DayResult:
    events: int
    users: int
    quota: int
    calls_used: int
    sandbox_calls: int
    upserts: int
    violations: list[Any]
    alerts: list[str]
    missing: int
    stale: int
    run_calls: int
    modes: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "users": self.users,
            "quota": self.quota,
            "calls_used": self.calls_used,
            "sandbox_calls_counted": self.sandbox_calls,
            "upsert_calls": self.upserts,
            "violations": len(self.violations),
            "alerts": self.alerts,
            "profiles_missing_in_marketo": self.missing,
            "profiles_with_stale_values": self.stale,
            "calls_reported_by_runs": self.run_calls,
            "planner_modes_seen": self.modes,
        }


async def simulate_day(
    database_url: str, *, events: int, users: int, quota: int, chunk: int = 200, seed: int = 7
) -> DayResult:
    clock = ManualClock(DAY_START)
    rng = random.Random(seed)
    last: dict[str, int] = {}
    modes: dict[str, int] = {}
    with marketo(clock, daily_quota=quota) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base, limits={"daily_quota": {"calls": quota}})
            await rig.syncs.create(
                {
                    "name": "profiles-to-marketo",
                    "connection": "marketo",
                    "direction": "push",
                    "object": "leads",
                    "config": {
                        "batch_size": 300,
                        "mapping": [
                            {"target": "email", "source": "email"},
                            {"target": "leadScore", "source": "traits.seq", "convert": ["to_int"]},
                        ],
                    },
                    "trigger": {
                        "every_seconds": WINDOW,
                        "events": ["identify"],
                        "suppress_seconds": 86400,
                    },
                }
            )
            per_window = events // WINDOWS
            seq = 0
            for window in range(WINDOWS):
                count = per_window if window < WINDOWS - 1 else events - seq
                start = clock.now()
                for offset in range(0, count, chunk):
                    batch = []
                    for _ in range(min(chunk, count - offset)):
                        email = f"user{rng.randrange(users)}@example.com"
                        seq += 1
                        last[email] = seq
                        batch.append((email, {"seq": seq}, None))
                    await rig.identify_many(batch)
                    mode = (await rig.syncs.quota("marketo"))["mode"]
                    modes[mode] = modes.get(mode, 0) + 1
                    await rig.run()
                    # events spread over the window
                    clock.set(start + (WINDOW * min(offset + chunk, count) // count) * _SECOND)
                clock.set(start + WINDOW * _SECOND)
                await rig.syncs.tick()
                await rig.run()
            # After the day: one more window, then past the reset for anything parked.
            clock.advance(WINDOW)
            await rig.syncs.tick()
            await rig.run()
            async with rig.hub.database.read() as connection:
                from sqlalchemy import func, select

                from renkei.store.tables.connectors import connector_quota_days

                peak = (
                    await connection.execute(select(func.max(connector_quota_days.c.used)))
                ).scalar()
            used_today = int(peak or 0)
            missing = stale = 0
            for email, value in last.items():
                lead = sandbox.lead_by_email(email)
                if lead is None:
                    missing += 1
                elif lead.values.get("leadScore") != value:
                    stale += 1
            runs = await rig.syncs.runs("profiles-to-marketo", limit=500)
            async with rig.hub.database.read() as connection:
                alert_types = [
                    row.type
                    for row in await connection.execute(
                        select(events_table.c.type)
                        .where(events_table.c.type.like("connection.quota.%"))
                        .order_by(events_table.c.id)
                    )
                ]
            return DayResult(
                events=seq,
                users=len(last),
                quota=quota,
                calls_used=used_today,
                sandbox_calls=sandbox.quota_used,
                upserts=sandbox.counters.calls[UPSERT],
                violations=list(sandbox.violations),
                alerts=alert_types,
                missing=missing,
                stale=stale,
                run_calls=sum(run.counts["calls"] for run in runs),
                modes=modes,
            )


from datetime import timedelta  # noqa: E402

_SECOND = timedelta(seconds=1)
