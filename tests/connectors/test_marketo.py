"""The Marketo connector against the Marketo sandbox, through the durable queue, on SQLite
and PostgreSQL. Every test ends with the sandbox's violations list empty (or holding only
the quota refusal a test provokes on purpose)."""

from __future__ import annotations

from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.connectors.errors import RateLimitedError
from renkei.sandbox import ViolationKind

from .harness import (
    MARKETO_CREDENTIALS,
    MARKETO_RESET,
    START,
    leads,
    marketo_sandbox,
    rig,
)

pytestmark = pytest.mark.timeout(120)

UPSERT = "POST /rest/v1/leads.json"


async def test_a_thousand_upserts_go_out_in_batches_of_300_within_the_window_across_reauth(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    # A window of 3 calls per 20 s and 2 at a time, on both sides, so the limits bite.
    with marketo_sandbox(clock, rate_limit_calls=3, max_concurrent=2) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto",
                "marketo",
                config={"base_url": base},
                credentials=MARKETO_CREDENTIALS,
                limits={"rate_limit": {"calls": 3, "per_seconds": 20, "concurrency": 2}},
            )
            submissions = [
                await r.submit("mkto", "upsert_leads", leads(100, start=100 * n)) for n in range(10)
            ]
            await r.run_due()
            sent_before = sandbox.counters.calls[UPSERT]
            assert 1 <= sent_before < 4
            sandbox.expire_tokens()  # every token dies mid-run: Marketo answers 602
            await r.drive()

            assert sandbox.violations == []
            assert len(sandbox.leads) == 1000
            assert {lead.get("email") for lead in sandbox.leads.values()} == {
                f"lead{n}@example.com" for n in range(1000)
            }
            assert await r.batch_sizes("upsert_leads") == [300, 300, 300, 100]
            # one token before the expiry, one after: re-authenticated once, not per call
            assert sandbox.counters.tokens_issued == 2
            # the 602 answers were retried once each with the new token
            assert 4 < sandbox.counters.calls[UPSERT] <= 4 + 2
            for submission_id in submissions:
                outcome = await r.submission(submission_id)
                assert outcome.done
                assert outcome.counts["ok"] == 100
                assert {rec.vendor_status for rec in outcome.records} == {"created"}
            assert (await r.job_counts()) == {}


async def test_the_token_is_reused_until_it_expires_then_fetched_again(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto", "marketo", config={"base_url": base}, credentials=MARKETO_CREDENTIALS
            )
            for round_ in range(3):
                await r.submit("mkto", "upsert_leads", leads(300, start=300 * round_))
                await r.drive()
            assert sandbox.counters.tokens_issued == 1
            clock.advance(hours=1)  # the hour-long token has expired
            await r.submit("mkto", "upsert_leads", leads(300, start=900))
            await r.drive()
            assert sandbox.counters.tokens_issued == 2
            assert len(sandbox.leads) == 1200
            assert sandbox.violations == []


async def test_a_spent_daily_quota_parks_the_work_until_midnight_in_chicago(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto",
                "marketo",
                config={"base_url": base},
                credentials=MARKETO_CREDENTIALS,
                limits={"daily_quota": {"calls": 2}},
            )
            submission_id = await r.submit("mkto", "upsert_leads", leads(1000))
            await r.drive(until=MARKETO_RESET)

            assert len(sandbox.leads) == 600  # two calls today
            assert await r.next_due() == MARKETO_RESET  # the rest waits for the reset
            usage = await r.service.usage("mkto")
            assert usage["daily_quota"]["used"] == 2
            assert usage["daily_quota"]["remaining"] == 0
            assert usage["daily_quota"]["resets_at"] == MARKETO_RESET
            waiting = await r.submission(submission_id)
            assert waiting.counts["ok"] == 600
            assert waiting.counts["pending"] + waiting.counts["running"] == 400
            assert not waiting.done

            await r.drive()
            assert clock.now() >= MARKETO_RESET
            assert len(sandbox.leads) == 1000
            done = await r.submission(submission_id)
            assert done.done and done.counts["ok"] == 1000
            assert (await r.service.usage("mkto"))["daily_quota"]["used"] == 2
            assert sandbox.violations == []
            # parked jobs used no attempts: nothing was dead-lettered
            assert (await r.job_counts()) == {}


async def test_marketo_607_parks_the_work_until_the_reset_and_stops_every_other_call(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    # Another integration spent most of today's quota: Marketo refuses before we think it
    # should, with 607.
    with marketo_sandbox(clock, daily_quota=2) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto", "marketo", config={"base_url": base}, credentials=MARKETO_CREDENTIALS
            )
            submission_id = await r.submit("mkto", "upsert_leads", leads(1000))
            await r.drive(until=MARKETO_RESET)
            assert len(sandbox.leads) == 600
            assert sandbox.violations
            assert {v.kind for v in sandbox.violations} == {ViolationKind.DAILY_QUOTA}
            refused = len(sandbox.violations)
            usage = await r.service.usage("mkto")
            assert usage["daily_quota"]["remaining"] == 0  # no worker calls again today

            await r.drive()
            assert len(sandbox.leads) == 1000
            assert len(sandbox.violations) == refused
            assert (await r.submission(submission_id)).counts["ok"] == 1000


async def test_per_record_errors_are_reported_per_record(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto", "marketo", config={"base_url": base}, credentials=MARKETO_CREDENTIALS
            )
            records: list[Any] = [
                {"email": "ok1@example.com", "firstName": "One"},
                {"email": "unknown@example.com", "favouriteColour": "blue"},
                {"email": "score@example.com", "leadScore": "lots"},
                {"firstName": "No Email"},
                {},
                {"email": "ok2@example.com", "unsubscribed": True},
            ]
            submission_id = await r.submit("mkto", "upsert_leads", records)
            await r.drive()
            outcome = await r.submission(submission_id)
            got = [(rec.status, rec.vendor_status or rec.error_code) for rec in outcome.records]
            assert got == [
                ("ok", "created"),
                ("error", "1006"),
                ("error", "1001"),
                ("error", "1003"),
                ("error", "invalid_input"),
                ("ok", "created"),
            ]
            assert "favouriteColour" in (outcome.records[1].error_message or "")
            assert outcome.counts == {"pending": 0, "running": 0, "ok": 2, "error": 4}
            assert outcome.records[0].vendor_id is not None
            assert sandbox.lead_by_email("ok2@example.com") is not None
            assert len(sandbox.leads) == 2
            assert sandbox.counters.calls[UPSERT] == 1  # one call; bad records didn't sink it


async def test_custom_activities_survive_a_transient_error_without_duplicates(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto",
                "marketo",
                config={"base_url": base, "activity_type_id": 100001},
                credentials=MARKETO_CREDENTIALS,
            )
            await r.submit("mkto", "upsert_leads", leads(3))
            await r.drive()
            lead_ids = sorted(sandbox.leads)
            sandbox.fail_next(1, "611", path="/rest/v1/activities/external.json")
            activities = [
                {
                    "leadId": lead_id,
                    "primaryAttributeValue": "Signed up",
                    "activityDate": "2026-03-02T14:00:00Z",
                    "attributes": [{"name": "Event Id", "value": f"evt_{lead_id}"}],
                }
                for lead_id in lead_ids
            ]
            activities.append({"leadId": 999_999, "primaryAttributeValue": "Nobody"})
            submission_id = await r.submit("mkto", "add_activities", activities)
            await r.drive()
            outcome = await r.submission(submission_id)
            assert [rec.status for rec in outcome.records] == ["ok", "ok", "ok", "error"]
            assert {rec.vendor_status for rec in outcome.records[:3]} == {"added"}
            assert outcome.records[3].error_code == "1004"
            custom = sandbox.custom_activities
            assert sorted(a.lead_id for a in custom) == lead_ids  # each exactly once
            assert sandbox.violations == []


async def test_reading_activities_pages_through_every_record_exactly_once(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock, seed_leads=50, seed_activities=1000, page_size=100) as (
        sandbox,
        base,
    ):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto", "marketo", config={"base_url": base}, credentials=MARKETO_CREDENTIALS
            )
            result = await r.service.call(
                "mkto",
                "read_activities",
                {"since": "2026-03-01T00:00:00Z", "activity_type_ids": [1]},
            )
            data = result.data
            ids = [activity["id"] for activity in data["records"]]
            assert len(ids) == 1000 and len(set(ids)) == 1000
            assert data["more"] is False and data["pages"] == 10
            assert set(sandbox.counters.pages_served.values()) == {1}

            # the token of the last page is where the next read starts: nothing new yet
            again = await r.service.call(
                "mkto",
                "read_activities",
                {"next_page_token": data["next_page_token"], "activity_type_ids": [1]},
            )
            assert again.data["records"] == []
            fresh = sandbox.seed_activities(5, start=clock.now())
            clock.advance(60)
            later = await r.service.call(
                "mkto",
                "read_activities",
                {"next_page_token": data["next_page_token"], "activity_type_ids": [1]},
            )
            assert [a["id"] for a in later.data["records"]] == [a.id for a in fresh]
            assert sandbox.violations == []


async def test_a_read_stopped_by_the_window_resumes_where_it_stopped(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(
        clock, seed_leads=10, seed_activities=1000, page_size=100, rate_limit_calls=4
    ) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto",
                "marketo",
                config={"base_url": base},
                credentials=MARKETO_CREDENTIALS,
                limits={"rate_limit": {"calls": 4, "per_seconds": 20}},
            )
            request: dict[str, Any] = {
                "since": "2026-03-01T00:00:00Z",
                "activity_type_ids": [1],
            }
            seen: list[int] = []
            reads = 0
            while True:
                reads += 1
                try:
                    result = await r.service.call("mkto", "read_activities", request)
                except RateLimitedError as exc:
                    assert exc.retry_after is not None
                    clock.advance(exc.retry_after)
                    continue
                seen += [activity["id"] for activity in result.data["records"]]
                if not result.data["more"]:
                    break
                request = {
                    "next_page_token": result.data["next_page_token"],
                    "activity_type_ids": [1],
                }
                clock.advance(20)
            assert reads > 2
            assert len(seen) == 1000 and len(set(seen)) == 1000
            assert sandbox.violations == []


async def test_lead_changes_are_read_once_each(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock, page_size=7) as (_, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto", "marketo", config={"base_url": base}, credentials=MARKETO_CREDENTIALS
            )
            await r.submit("mkto", "upsert_leads", leads(20))
            await r.drive()
            clock.advance(60)
            renamed = [{"email": f"lead{n}@example.com", "firstName": "Renamed"} for n in range(5)]
            await r.submit("mkto", "upsert_leads", renamed)
            await r.drive()
            result = await r.service.call(
                "mkto",
                "read_lead_changes",
                {"since": START.isoformat(), "fields": ["firstName"]},
            )
            changes = result.data["records"]
            ids = [change["id"] for change in changes]
            assert len(ids) == len(set(ids)) == 25  # 20 new leads, 5 renamed
            assert sum(1 for c in changes if c["activityTypeId"] == 13) == 5
            assert result.data["pages"] == 4
