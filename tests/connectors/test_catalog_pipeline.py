"""The catalog connectors end to end through the durable queue: records submitted to a
connection coalesce into vendor-sized calls, database-backed limits hold across jobs, and
every record gets its own outcome. On SQLite and PostgreSQL, over loopback HTTP, with one
ManualClock for the hub and the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from renkei.clock import ManualClock
from renkei.sandbox import serve_in_thread
from renkei.sandbox._base import VendorSandbox
from renkei.sandbox.braze import DEFAULT_API_KEY as BRAZE_KEY
from renkei.sandbox.braze import BrazeSandbox, BrazeSandboxConfig
from renkei.sandbox.klaviyo import DEFAULT_API_KEY as KLAVIYO_KEY
from renkei.sandbox.klaviyo import KlaviyoSandbox, KlaviyoSandboxConfig
from renkei.sandbox.mailchimp import DEFAULT_API_KEY as MAILCHIMP_KEY
from renkei.sandbox.mailchimp import DEFAULT_LIST_ID, MailchimpSandbox, MailchimpSandboxConfig
from renkei.sandbox.slack import DEFAULT_WEBHOOK_PATH, SlackSandbox, SlackSandboxConfig

from .harness import START, rig

pytestmark = pytest.mark.timeout(120)
S = TypeVar("S", bound=VendorSandbox[Any])


@contextmanager
def served(sandbox: S) -> Iterator[tuple[S, str]]:
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url


async def test_braze_events_go_out_75_a_request_inside_the_shared_window(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    config = BrazeSandboxConfig(rate_limit=2, rate_window_seconds=3.0)
    with served(BrazeSandbox(config, clock)) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "braze",
                "braze",
                config={"instance_url": base},
                credentials={"api_key": BRAZE_KEY},
                limits={"rate_limit": {"calls": 2, "per_seconds": 3}},
            )
            records = [
                {"external_id": f"u{n}", "name": "played", "time": "2026-03-02T15:00:00Z"}
                for n in range(300)
            ]
            records[7]["time"] = "not a time"
            submission_id = await r.submit("braze", "track_events", records)
            await r.drive()
            outcome = await r.submission(submission_id)
    assert sandbox.violations == []
    assert sandbox.track_requests == 4
    assert event_batch_sizes(sandbox) == [75, 75, 75, 75]
    assert (outcome.counts["ok"], outcome.counts["error"]) == (299, 1)
    assert outcome.records[7].error_code == "braze_error"
    assert len(sandbox.events) == 299


def event_batch_sizes(sandbox: BrazeSandbox) -> list[int]:
    """Events per /users/track request the sandbox received."""
    return sorted(
        (len(json.loads(c.body)["events"]) for c in sandbox.requests if c.path == "/users/track"),
        reverse=True,
    )


async def test_mailchimp_members_go_out_500_a_call(database_url: str) -> None:
    clock = ManualClock(START)
    with served(MailchimpSandbox(MailchimpSandboxConfig(), clock)) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mc",
                "mailchimp",
                config={"api_base_url": f"{base}/3.0", "list_id": DEFAULT_LIST_ID},
                credentials={"api_key": MAILCHIMP_KEY},
            )
            records: list[dict[str, Any]] = [
                {"email_address": f"m{n}@example.com", "status": "subscribed"} for n in range(1200)
            ]
            records[42] = {"email_address": "broken", "status": "subscribed"}
            submission_id = await r.submit("mc", "upsert_members", records)
            await r.drive()
            outcome = await r.submission(submission_id)
            sizes = await r.batch_sizes("upsert_members")
    assert sizes == [500, 500, 200]
    assert (outcome.counts["ok"], outcome.counts["error"]) == (1199, 1)
    assert outcome.records[42].error_code == "ERROR_GENERIC"
    assert len(sandbox.members()) == 1199
    assert sandbox.violations == [] and sandbox.max_in_flight <= 10


async def test_klaviyo_events_keep_the_burst_window_and_get_a_stable_unique_id(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    config = KlaviyoSandboxConfig(rate_limits={"create_event": (5, 3500)})
    with served(KlaviyoSandbox(config, clock)) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "kl",
                "klaviyo",
                config={"base_url": base, "burst_limits": {"create_event": 5}},
                credentials={"api_key": KLAVIYO_KEY},
            )
            events = [
                {
                    "metric": "Viewed Item",
                    "profile": {"email": f"p{n}@example.com"},
                    "properties": {},
                }
                for n in range(12)
            ]
            submission_id = await r.submit("kl", "create_events", events)
            await r.drive()
            outcome = await r.submission(submission_id)
    assert sandbox.violations == []
    assert outcome.counts["ok"] == 12
    assert len(sandbox.events) == 12 and sandbox.state.duplicate_events == 0
    assert len({e.unique_id for e in sandbox.events}) == 12  # filled in at submission


async def test_slack_messages_wait_their_turn(database_url: str) -> None:
    clock = ManualClock(START)
    with served(SlackSandbox(SlackSandboxConfig(), clock)) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await r.connect(
                "sales",
                "slack",
                config={},
                credentials={"webhook_url": base + DEFAULT_WEBHOOK_PATH},
            )
            submission_id = await r.submit(
                "sales", "post_message", [{"text": f"lead {n}"} for n in range(5)]
            )
            await r.drive()
            outcome = await r.submission(submission_id)
    assert outcome.counts["ok"] == 5
    assert sorted(m.text or "" for m in sandbox.messages) == [f"lead {n}" for n in range(5)]
    assert sandbox.violations == []
    assert clock.now() - START >= timedelta(seconds=4)  # one message a second
