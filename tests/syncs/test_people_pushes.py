"""Syncs push profiles to Braze users (users/track attributes), Klaviyo profiles and
Mailchimp audience members through the generic engine, on SQLite and PostgreSQL, against
their sandboxes: batches at the vendor's size with a mapping, realtime pushes inside and
after a suppression window, and a permanent error per record (issue 19, point 2)."""

from __future__ import annotations

import pytest

from renkei.sandbox.braze import DEFAULT_API_KEY as BRAZE_KEY
from renkei.sandbox.braze import BrazeSandboxConfig, create_braze_app
from renkei.sandbox.klaviyo import DEFAULT_API_KEY as KLAVIYO_KEY
from renkei.sandbox.klaviyo import KlaviyoSandboxConfig, create_klaviyo_app
from renkei.sandbox.mailchimp import DEFAULT_API_KEY as MAILCHIMP_KEY
from renkei.sandbox.mailchimp import DEFAULT_LIST_ID, MailchimpSandboxConfig, create_mailchimp_app

from .harness import push_sync, sandbox_rig

pytestmark = pytest.mark.timeout(180)


async def test_a_batch_push_sets_mapped_attributes_on_braze_users_75_a_request(
    database_url: str,
) -> None:
    async with sandbox_rig(
        database_url, lambda clock: create_braze_app(BrazeSandboxConfig(), clock)
    ) as (sandbox, base_url, rig):
        clock = rig.clock
        await rig.connect_vendor("braze", {"instance_url": base_url}, {"api_key": BRAZE_KEY})
        await rig.syncs.create(
            push_sync(
                "to-braze",
                "braze",
                "users",
                [
                    {"target": "external_id", "source": "user_id"},
                    {"target": "first_name", "source": "traits.name"},
                    {"target": "plan", "source": "traits.plan"},
                ],
            )
        )
        await rig.identify_many(
            [
                (f"p{n}@example.com", {"name": f"P{n}", "plan": "pro", "ssn": "x"}, f"u{n}")
                for n in range(150)
            ]
        )
        clock.advance(60)
        await rig.syncs.run("to-braze")
        await rig.run()
        (run,) = await rig.syncs.runs("to-braze")
        assert (run.status, run.counts["updated"], run.counts["calls"]) == (
            "succeeded",
            150,
            2,  # 75 attribute objects a /users/track request
        ), run.errors
        assert sandbox.track_requests == 2
        user = sandbox.user("u149")
        assert user is not None
        assert user.attributes == {"first_name": "P149", "plan": "pro"}  # no "ssn"
        profile = await rig.profile("p149@example.com")
        connection_id = await rig.connection_id("braze")
        assert profile.values("braze_user") == [f"{connection_id}:u149"]
        assert sandbox.violations == []


async def test_realtime_pushes_to_klaviyo_profiles_honour_the_suppression_window(
    database_url: str,
) -> None:
    async with sandbox_rig(
        database_url, lambda clock: create_klaviyo_app(KlaviyoSandboxConfig(), clock)
    ) as (sandbox, base_url, rig):
        clock = rig.clock
        await rig.connect_vendor("klaviyo", {"base_url": base_url}, {"api_key": KLAVIYO_KEY})
        await rig.syncs.create(
            push_sync(
                "to-klaviyo",
                "klaviyo",
                "profiles",
                [
                    {"target": "email", "source": "email"},
                    {"target": "first_name", "source": "traits.name"},
                    {"target": "plan", "source": "traits.plan"},
                ],
                trigger={"events": ["identify"], "suppress_seconds": 3600},
            )
        )
        await rig.identify("sue@example.com", {"name": "Sue", "plan": "pro"})
        await rig.run()
        sue = sandbox.profile_by_email("sue@example.com")
        assert sue is not None
        assert sue.attributes["first_name"] == "Sue"
        assert sue.attributes["properties"] == {"plan": "pro"}  # not a Klaviyo attribute

        clock.advance(minutes=30)
        await rig.identify("sue@example.com", {"name": "Susan"})
        await rig.run()
        assert sue.attributes["first_name"] == "Sue"  # suppressed

        clock.advance(minutes=31)
        await rig.identify("sue@example.com", {"name": "Susan"})
        await rig.run()
        assert sue.attributes["first_name"] == "Susan"
        runs = await rig.syncs.runs("to-klaviyo")
        assert sum(run.counts.get("calls", 0) for run in runs) == 2
        profile = await rig.profile("sue@example.com")
        connection_id = await rig.connection_id("klaviyo")
        assert profile.values("klaviyo_profile_id") == [f"{connection_id}:{sue.id}"]
        assert sandbox.violations == []


async def test_a_batch_push_adds_mailchimp_members_without_overwriting_consent(
    database_url: str,
) -> None:
    async with sandbox_rig(
        database_url,
        lambda clock: create_mailchimp_app(
            MailchimpSandboxConfig(required_merge_fields=("FNAME",)), clock
        ),
    ) as (sandbox, base_url, rig):
        clock = rig.clock
        await rig.connect_vendor(
            "mailchimp",
            {"api_base_url": f"{base_url}/3.0", "list_id": DEFAULT_LIST_ID},
            {"api_key": MAILCHIMP_KEY},
        )
        await rig.syncs.create(
            push_sync(
                "to-mailchimp",
                "mailchimp",
                "members",
                [
                    {"target": "fname", "source": "traits.name"},
                ],
            )
        )
        (existing,) = sandbox.seed_members(1)
        existing_status = existing.status
        await rig.identify_many(
            [
                ("ann@example.com", {"name": "Ann"}, None),
                (existing.email_address, {"name": "Old"}, None),
                ("bob@example.com", {"plan": "pro"}, None),  # FNAME is required: refused
            ]
        )
        clock.advance(60)
        await rig.syncs.run("to-mailchimp")
        await rig.run()
        (run,) = await rig.syncs.runs("to-mailchimp")
        # A PUT answers the member, not whether it was new: both count as updated.
        assert run.counts["read"] == 3 and run.counts["updated"] == 2, run.counts
        assert len(run.errors) == 1 and "Please enter a value" in str(run.errors), run.errors
        ann = sandbox.member("ann@example.com")
        assert ann is not None
        assert (ann.status, ann.merge_fields.get("FNAME")) == ("transactional", "Ann")
        assert existing.status == existing_status  # consent is not the sync's to change
        assert existing.merge_fields.get("FNAME") == "Old"
        assert sandbox.member("bob@example.com") is None
        assert sandbox.violations == []
