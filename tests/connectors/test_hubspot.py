"""The HubSpot connector against the HubSpot sandbox, through the durable queue, on SQLite
and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.connectors.connections import update_connection
from renkei.connectors.errors import RateLimitedError
from renkei.sandbox import ViolationKind

from .harness import (
    HUBSPOT_CREDENTIALS,
    START,
    UTC_MIDNIGHT,
    contacts,
    hubspot_sandbox,
    rig,
)

pytestmark = pytest.mark.timeout(120)

UPSERT = "POST /crm/v3/objects/contacts/batch/upsert"
SEARCH = "POST /crm/v3/objects/contacts/search"


async def test_a_thousand_upserts_go_out_in_batches_of_100_within_the_rolling_window(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with hubspot_sandbox(clock, ten_second_limit=4) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs",
                "hubspot",
                config={"base_url": base},
                credentials=HUBSPOT_CREDENTIALS,
                limits={"rate_limit": {"calls": 4, "per_seconds": 10}},
            )
            submission_id = await r.submit("hs", "upsert_contacts", contacts(1000))
            await r.drive()
            assert sandbox.violations == []
            assert len(sandbox.contacts) == 1000
            assert sandbox.counters.calls[UPSERT] == 10
            assert await r.batch_sizes("upsert_contacts") == [100] * 10
            outcome = await r.submission(submission_id)
            assert outcome.counts["ok"] == 1000
            assert {rec.vendor_status for rec in outcome.records} == {"created"}
            assert clock.now() - START >= timedelta(seconds=20)  # three windows at least

            # the same contacts again: updates, by email, case-insensitively
            again = [{**c, "email": c["email"].upper(), "lastname": "Again"} for c in contacts(5)]
            second = await r.submit("hs", "upsert_contacts", again)
            await r.drive()
            updated = await r.submission(second)
            assert {rec.vendor_status for rec in updated.records} == {"updated"}
            assert len(sandbox.contacts) == 1000
            assert sandbox.contact_by_email("contact3@example.com").properties["lastname"] == (
                "Again"
            )


async def test_the_daily_limit_parks_the_work_until_midnight_utc(database_url: str) -> None:
    clock = ManualClock(START)
    with hubspot_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs",
                "hubspot",
                config={"base_url": base},
                credentials=HUBSPOT_CREDENTIALS,
                limits={"daily_quota": {"calls": 3, "timezone": "UTC"}},
            )
            submission_id = await r.submit("hs", "upsert_contacts", contacts(500))
            await r.drive(until=UTC_MIDNIGHT)
            assert len(sandbox.contacts) == 300
            assert await r.next_due() == UTC_MIDNIGHT
            await r.drive()
            assert len(sandbox.contacts) == 500
            assert (await r.submission(submission_id)).counts["ok"] == 500
            assert sandbox.violations == []


async def test_a_daily_429_from_hubspot_parks_the_work_until_the_reset(database_url: str) -> None:
    clock = ManualClock(START)
    with hubspot_sandbox(clock, daily_limit=3) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs", "hubspot", config={"base_url": base}, credentials=HUBSPOT_CREDENTIALS
            )
            submission_id = await r.submit("hs", "upsert_contacts", contacts(500))
            await r.drive(until=UTC_MIDNIGHT)
            assert len(sandbox.contacts) == 300
            assert {v.kind for v in sandbox.violations} == {ViolationKind.DAILY_QUOTA}
            assert (await r.service.usage("hs"))["daily_quota"]["remaining"] == 0
            await r.drive()
            assert len(sandbox.contacts) == 500
            assert (await r.submission(submission_id)).done


async def test_a_429_retry_after_is_honoured_without_using_an_attempt(database_url: str) -> None:
    clock = ManualClock(START)
    with hubspot_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs", "hubspot", config={"base_url": base}, credentials=HUBSPOT_CREDENTIALS
            )
            sandbox.fail_next(
                1, 429, path="/crm/v3/objects/contacts/batch/upsert", headers={"Retry-After": "7"}
            )
            await r.submit("hs", "upsert_contacts", contacts(100))
            await r.run_due()
            assert await r.next_due() == START + timedelta(seconds=7)
            await r.drive()
            assert len(sandbox.contacts) == 100
            assert sandbox.counters.calls[UPSERT] == 2


async def test_per_record_errors_are_reported_per_record(database_url: str) -> None:
    clock = ManualClock(START)
    with hubspot_sandbox(clock, custom_properties={"signup_date": "date"}) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs", "hubspot", config={"base_url": base}, credentials=HUBSPOT_CREDENTIALS
            )
            records: list[Any] = [
                {"email": "ok1@example.com", "firstname": "One"},
                {"email": "not-an-email"},
                {"email": "colour@example.com", "favourite_colour": "blue"},
                {"email": "date@example.com", "signup_date": "yesterday"},
                {"email": "twice@example.com", "firstname": "First"},
                {"email": "ok2@example.com", "signup_date": "2026-03-01"},
                {"email": "Twice@example.com", "lastname": "Second"},
                *contacts(20),
            ]
            submission_id = await r.submit("hs", "upsert_contacts", records)
            await r.drive()
            outcome = await r.submission(submission_id)
            got = [(rec.status, rec.vendor_status or rec.error_code) for rec in outcome.records]
            assert got[:7] == [
                ("ok", "created"),
                ("error", "invalid_input"),
                ("error", "PROPERTY_DOESNT_EXIST"),
                ("error", "INVALID_DATE"),
                ("ok", "created"),
                ("ok", "created"),
                ("ok", "created"),
            ]
            assert all(rec.status == "ok" for rec in outcome.records[7:])
            assert outcome.records[4].vendor_id == outcome.records[6].vendor_id
            twice = sandbox.contact_by_email("twice@example.com")
            assert twice is not None
            assert (twice.properties["firstname"], twice.properties["lastname"]) == (
                "First",
                "Second",
            )
            assert len(sandbox.contacts) == 23
            assert sandbox.violations == []


async def test_reading_contacts_pages_through_every_record_exactly_once(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    # A result cap far below the contact count: offsets alone could not reach them all.
    with hubspot_sandbox(clock, search_result_cap=120) as (sandbox, base):
        sandbox.seed_contacts(400, spacing_seconds=1)
        clock.advance(5)
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs", "hubspot", config={"base_url": base}, credentials=HUBSPOT_CREDENTIALS
            )
            seen, cursor = await _read_all(r, clock, {"page_size": 50})
            assert len(seen) == 400 and len(set(seen)) == 400

            # three contacts change: the next read from the cursor finds exactly them
            clock.advance(60)
            changed = [{"email": f"contact{n}@example.com", "lastname": "Moved"} for n in (7, 8, 9)]
            await r.submit("hs", "upsert_contacts", changed)
            await r.drive()
            clock.advance(1)
            later, _ = await _read_all(r, clock, {"cursor": cursor})
            assert sorted(later) == sorted(
                str(sandbox.contact_by_email(f"contact{n}@example.com").id)  # type: ignore[union-attr]
                for n in (7, 8, 9)
            )
            assert sandbox.violations == []
            assert sandbox.counters.calls[SEARCH] > 8


async def test_contacts_sharing_one_modification_time_are_read_once_each(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with hubspot_sandbox(clock) as (sandbox, base):
        sandbox.seed_contacts(230)  # all at the same millisecond
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs", "hubspot", config={"base_url": base}, credentials=HUBSPOT_CREDENTIALS
            )
            seen, _ = await _read_all(r, clock, {"page_size": 100})
            assert len(seen) == 230 and len(set(seen)) == 230
            assert sandbox.violations == []


async def _read_all(r: Any, clock: ManualClock, request: dict[str, Any]) -> tuple[list[str], Any]:
    seen: list[str] = []
    while True:
        try:
            result = await r.service.call("hs", "read_contacts", request)
        except RateLimitedError as exc:
            clock.advance(exc.retry_after or 1)
            continue
        seen += [record["id"] for record in result.data["records"]]
        cursor = result.data["cursor"]
        if not result.data["more"]:
            return seen, cursor
        request = {**{k: v for k, v in request.items() if k != "since"}, "cursor": cursor}
        clock.advance(1)


async def test_custom_events_are_exempt_from_limits_and_carry_stable_ids(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with hubspot_sandbox(clock, ten_second_limit=1, event_names=("pe1234567_signup",)) as (
        sandbox,
        base,
    ):
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs",
                "hubspot",
                config={"base_url": base},
                credentials=HUBSPOT_CREDENTIALS,
                limits={"rate_limit": {"calls": 1, "per_seconds": 10}, "batch_size": 2},
            )
            events: list[Any] = [
                {
                    "eventName": "pe1234567_signup",
                    "email": f"user{n}@example.com",
                    "properties": {"plan": "pro", "seats": n},
                }
                for n in range(5)
            ]
            events.insert(2, {"eventName": "pe1234567_nope", "email": "x@example.com"})
            submission_id = await r.submit("hs", "send_events", events)
            await r.drive()
            outcome = await r.submission(submission_id)
            assert [rec.status for rec in outcome.records] == [
                "ok",
                "ok",
                "error",
                "ok",
                "ok",
                "ok",
            ]
            assert len(sandbox.events) == 5
            uuids = [rec.vendor_id for rec in outcome.records if rec.status == "ok"]
            assert sorted(uuids) == sorted(e.uuid for e in sandbox.events)  # type: ignore[type-var]
            # Batches go out concurrently, so the sandbox may have them in either order.
            first = next(e for e in sandbox.events if e.email == "user0@example.com")
            assert first.properties == {"plan": "pro", "seats": "0"}
            assert clock.now() - START < timedelta(seconds=10)  # no window was waited for
            assert sandbox.violations == []


async def test_a_token_rotated_mid_run_pauses_the_work_until_the_new_one_is_set(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    new_token = "pat-na1-11111111-1111-4111-8111-111111111111"
    with hubspot_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "hs",
                "hubspot",
                config={"base_url": base},
                credentials=HUBSPOT_CREDENTIALS,
                limits={"rate_limit": {"calls": 1, "per_seconds": 10}},
            )
            submission_id = await r.submit("hs", "upsert_contacts", contacts(300))
            await r.run_due()
            assert len(sandbox.contacts) == 100
            # Someone rotates the private app's token in HubSpot: the old one is refused.
            sandbox.config = dataclasses.replace(sandbox.config, access_tokens=(new_token,))
            await r.drive(until=START + timedelta(seconds=30))
            assert len(sandbox.contacts) == 100
            row = await r.service.runtime.load("hs")
            assert row.status == "failing" and "401" in (row.last_error or "")
            assert not (await r.submission(submission_id)).done  # waiting, not failed

            async with r.hub.database.transaction() as tx:
                await update_connection(
                    tx,
                    "hs",
                    keyring=r.hub.keyring,
                    registry=r.service.registry,
                    now=clock.now(),
                    credentials={"access_token": new_token},
                )
            await r.drive()
            assert len(sandbox.contacts) == 300
            assert (await r.submission(submission_id)).counts["ok"] == 300
            assert (await r.service.runtime.load("hs")).status == "active"
            assert sandbox.violations == []
