"""Realtime suppression on a movable clock, and a pull that crashes between pages and
resumes from its checkpointed cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from renkei.clock import ManualClock
from renkei.syncs import SimulatedCrash, SyncService

from .harness import START, marketo, sync_rig

pytestmark = pytest.mark.timeout(180)

UPSERT = "POST /rest/v1/leads.json"
ACTIVITIES = "GET /rest/v1/activities.json"


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


async def test_a_pull_that_crashes_between_pages_resumes_reading_every_record_once(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    total, page = 6_000, 200  # 30 pages
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            sandbox.seed_leads(50)
            sandbox.seed_activities(total)
            service: SyncService = rig.syncs
            await service.create(
                {
                    "name": "activities",
                    "connection": "marketo",
                    "direction": "pull",
                    "object": "activities",
                    "config": {"activity_type_ids": [1], "page_size": page},
                }
            )
            service.engine.crash_after_pages = 11
            run_id = await service.run("activities")
            await rig.worker.run_burst()
            assert service.engine.crash_after_pages is None, "the crash happened"
            read_before = (await service.get_run(run_id)).counts["read"]  # type: ignore[union-attr]
            assert read_before == 11 * page
            assert len(await rig.events_of_type("marketo.activity")) == 11 * page

            clock.advance(10)  # past the retry delay: the job runs again
            await rig.run()
            run = await service.get_run(run_id)
            assert run is not None and run.status == "succeeded"
            assert run.counts["read"] == total
            assert run.counts["created"] == total
            assert run.counts["skipped"] == 0
            events = await rig.events_of_type("marketo.activity")
            assert len(events) == total
            # Every page was served once: no page read again after the crash, none skipped.
            assert sandbox.counters.calls[ACTIVITIES] == total // page
            assert set(sandbox.counters.pages_served.values()) == {1}
            assert sandbox.violations == []


def test_crash_hook_is_an_error() -> None:
    assert issubclass(SimulatedCrash, RuntimeError)
