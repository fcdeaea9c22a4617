"""Realtime suppression on a movable clock, on SQLite and PostgreSQL. (A pull that is
killed mid-way and resumes from its checkpointed cursor: test_pull_worker_kill.py.)"""

from __future__ import annotations

import pytest

from renkei.clock import ManualClock

from .harness import START, marketo, sync_rig

pytestmark = pytest.mark.timeout(180)

UPSERT = "POST /rest/v1/leads.json"


async def test_a_second_identify_within_24_h_triggers_no_call_after_24_h_it_does(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            await rig.syncs.create(
                {
                    "name": "realtime",
                    "connection": "marketo",
                    "direction": "push",
                    "object": "leads",
                    "config": {
                        "mapping": [
                            {"target": "email", "source": "email"},
                            {"target": "firstName", "source": "traits.name"},
                        ]
                    },
                    "trigger": {"events": ["identify"], "suppress_seconds": 86400},
                }
            )
            await rig.identify("sue@example.com", {"name": "Sue"})
            await rig.run()
            assert sandbox.counters.calls[UPSERT] == 1

            clock.advance(hours=23, minutes=59)
            await rig.identify("sue@example.com", {"name": "Susan"})
            await rig.run()
            assert sandbox.counters.calls[UPSERT] == 1  # suppressed
            lead = sandbox.lead_by_email("sue@example.com")
            assert lead is not None and lead.values["firstName"] == "Sue"

            clock.advance(minutes=2)  # 24 h and a minute after the request
            await rig.identify("sue@example.com", {"name": "Susanne"})
            await rig.run()
            assert sandbox.counters.calls[UPSERT] == 2
            assert lead.values["firstName"] == "Susanne"

            # Another user is not affected by Sue's window.
            await rig.identify("tom@example.com", {"name": "Tom"})
            await rig.run()
            assert sandbox.counters.calls[UPSERT] == 3
            runs = await rig.syncs.runs("realtime")
            assert sum(run.counts["calls"] for run in runs) == 3
            assert sandbox.violations == []
