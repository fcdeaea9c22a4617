"""A simulated day of ``identify`` events against Marketo's daily quota, on a movable
clock: realtime pushes on ``identify``, the 30-minute batch, and the quota planner between
them. Used by ``test_quota_day.py`` and ``bench/syncs_quota.py`` (the issue's full size:
200,000 events from 30,000 users, a 50,000-call quota).

By default every identify asks for a realtime upsert (no suppression window): 200,000
calls wanted against 50,000, so the planner has to coalesce. With KARTE's 24 h window
(``suppress_seconds=86400``) a user costs at most one realtime call a day, and 30,000
users stay under a 50,000-call quota without the planner's help.

The clock moves in steps of ``step_seconds``: the events of a step arrive together, as one
ingest commit (the same ``record_events`` + ``apply_events`` the ingest API commits), then
the worker runs what is due, then the clock moves on. Every 30 minutes the scheduler's tick
queues the periodic batch. Marketo's rolling rate limit (100 calls in 20 s) is kept, so a
step much longer than 20 s would compress a burst of realtime calls into one instant."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from renkei.clock import ManualClock
from renkei.store.tables.connectors import connector_quota_days
from renkei.store.tables.core import events as events_table
from renkei.store.tables.syncs import sync_pending

from .harness import SyncRig, marketo, sync_rig

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
    steps: int
    calls_by_trigger: dict[str, int]
    held: int
    alert_hours: dict[str, float]

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
            "calls_by_trigger": self.calls_by_trigger,
            "alerts_at_hour_of_vendor_day": self.alert_hours,
            "commits_by_planner_mode": self.modes,
            "changes_held_for_the_batch": self.held,
            "ingest_commits": self.steps,
        }


async def simulate_day(
    database_url: str,
    *,
    events: int,
    users: int,
    quota: int,
    step_seconds: int = 60,
    suppress_seconds: int = 0,
    quota_budget: float = 1.0,
    seed: int = 7,
) -> DayResult:
    if WINDOW % step_seconds:
        raise ValueError(f"step_seconds must divide {WINDOW}")
    clock = ManualClock(DAY_START)
    rng = random.Random(seed)
    last: dict[str, int] = {}
    modes: dict[str, int] = {}
    per_window = WINDOW // step_seconds
    total_steps = WINDOWS * per_window
    step = timedelta(seconds=step_seconds)
    seq = commits = sandbox_peak = held = 0
    with marketo(clock, daily_quota=quota) as (sandbox, base):
        async with sync_rig(database_url, clock, worker_batch_size=10) as rig:
            await rig.connect(base, limits={"daily_quota": {"calls": quota}})
            await rig.syncs.create(
                {
                    "name": "profiles-to-marketo",
                    "connection": "marketo",
                    "direction": "push",
                    "object": "leads",
                    "config": {
                        "batch_size": 300,
                        "quota_budget": quota_budget,
                        "mapping": [
                            {"target": "email", "source": "email"},
                            {"target": "leadScore", "source": "traits.seq", "convert": ["to_int"]},
                        ],
                    },
                    "trigger": {
                        "every_seconds": WINDOW,
                        "events": ["identify"],
                        "suppress_seconds": suppress_seconds,
                    },
                }
            )
            for n in range(total_steps):
                # The events of this step: spread evenly over the day.
                batch = []
                for _ in range(events * (n + 1) // total_steps - seq):
                    email = f"user{rng.randrange(users)}@example.com"
                    seq += 1
                    last[email] = seq
                    batch.append((email, {"seq": seq}, None))
                if batch:
                    before = await pending(rig)
                    await rig.identify_many(batch)
                    commits += 1
                    # Did the planner hold any change back for the batch in this commit?
                    newly_held = await pending(rig) - before
                    held += newly_held
                    mode = "coalesce" if newly_held else "realtime"
                    modes[mode] = modes.get(mode, 0) + 1
                await rig.run()
                sandbox_peak = max(sandbox_peak, sandbox.quota_used)
                clock.set(DAY_START + (n + 1) * step)
                if (n + 1) % per_window == 0:  # a window ends: the periodic batch
                    await rig.hub.queue.run_due_schedules()
                    await rig.run()
                    sandbox_peak = max(sandbox_peak, sandbox.quota_used)
            # After the day: one more window, then past the reset for anything parked.
            clock.advance(WINDOW)
            await rig.hub.queue.run_due_schedules()
            await rig.run()
            async with rig.hub.database.read() as connection:
                peak = (
                    await connection.execute(select(func.max(connector_quota_days.c.used)))
                ).scalar()
            missing = stale = 0
            for email, value in last.items():
                lead = sandbox.lead_by_email(email)
                if lead is None:
                    missing += 1
                elif lead.values.get("leadScore") != value:
                    stale += 1
            runs = await rig.syncs.runs("profiles-to-marketo", limit=500)
            by_trigger: dict[str, int] = {}
            for run in runs:
                by_trigger[run.trigger] = by_trigger.get(run.trigger, 0) + run.counts["calls"]
            async with rig.hub.database.read() as connection:
                alerts = list(
                    await connection.execute(
                        select(events_table.c.type, events_table.c.occurred_at)
                        .where(events_table.c.type.like("connection.quota.%"))
                        .order_by(events_table.c.seq)
                    )
                )
            return DayResult(
                events=seq,
                users=len(last),
                quota=quota,
                calls_used=int(peak or 0),
                sandbox_calls=max(sandbox_peak, sandbox.quota_used),
                upserts=sandbox.counters.calls[UPSERT],
                violations=list(sandbox.violations),
                alerts=[alert.type for alert in alerts],
                missing=missing,
                stale=stale,
                run_calls=sum(run.counts["calls"] for run in runs),
                modes=modes,
                steps=commits,
                calls_by_trigger=by_trigger,
                held=held,
                alert_hours={
                    alert.type: round((alert.occurred_at - DAY_START).total_seconds() / 3600, 1)
                    for alert in alerts
                },
            )


async def pending(rig: SyncRig) -> int:
    """Users whose change waits in ``sync_pending`` for the next batch."""
    async with rig.hub.database.read() as connection:
        found = await connection.execute(select(func.count()).select_from(sync_pending))
        return int(found.scalar_one())
