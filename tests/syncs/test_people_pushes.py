"""Syncs push profiles to Braze users (users/track attributes), Klaviyo profiles and
Mailchimp audience members through the generic engine, on SQLite and PostgreSQL, against
their sandboxes: batches at the vendor's size with a mapping, realtime pushes inside and
after a suppression window, and a permanent error per record (issue 19, point 2)."""

from __future__ import annotations

from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.connectors.connections import create_connection
from renkei.sandbox import serve_in_thread
from renkei.sandbox.braze import DEFAULT_API_KEY as BRAZE_KEY
from renkei.sandbox.braze import BrazeSandboxConfig, create_braze_app
from renkei.sandbox.klaviyo import DEFAULT_API_KEY as KLAVIYO_KEY
from renkei.sandbox.klaviyo import KlaviyoSandboxConfig, create_klaviyo_app
from renkei.sandbox.mailchimp import DEFAULT_API_KEY as MAILCHIMP_KEY
from renkei.sandbox.mailchimp import DEFAULT_LIST_ID, MailchimpSandboxConfig, create_mailchimp_app

from .harness import START, SyncRig, sync_rig

pytestmark = pytest.mark.timeout(180)


async def _connect(
    rig: SyncRig, name: str, config: dict[str, Any], credentials: dict[str, str]
) -> None:
    async with rig.hub.database.transaction() as tx:
        await create_connection(
            tx,
            keyring=rig.hub.keyring,
            registry=rig.hub.connectors.registry,
            now=rig.clock.now(),
            name=name,
            connector=name,
            config=config,
            credentials=credentials,
        )


def _batch(name: str, connection: str, obj: str, mapping: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "name": name,
        "connection": connection,
        "direction": "push",
        "object": obj,
        "config": {"mapping": mapping},
        "trigger": {"every_seconds": 1800},
    }


async def test_a_batch_push_sets_mapped_attributes_on_braze_users_75_a_request(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    sandbox = create_braze_app(BrazeSandboxConfig(), clock)
    with serve_in_thread(sandbox.app) as base_url:
        async with sync_rig(database_url, clock) as rig:
            await _connect(rig, "braze", {"instance_url": base_url}, {"api_key": BRAZE_KEY})
            await rig.syncs.create(
                _batch(
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
    clock = ManualClock(START)
    sandbox = create_klaviyo_app(KlaviyoSandboxConfig(), clock)
    with serve_in_thread(sandbox.app) as base_url:
        async with sync_rig(database_url, clock) as rig:
            await _connect(rig, "klaviyo", {"base_url": base_url}, {"api_key": KLAVIYO_KEY})
            sync = _batch(
                "to-klaviyo",
                "klaviyo",
                "profiles",
                [
                    {"target": "email", "source": "email"},
                    {"target": "first_name", "source": "traits.name"},
                    {"target": "plan", "source": "traits.plan"},
                ],
            )
            sync["trigger"] = {"events": ["identify"], "suppress_seconds": 3600}
            await rig.syncs.create(sync)
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
    clock = ManualClock(START)
    sandbox = create_mailchimp_app(MailchimpSandboxConfig(required_merge_fields=("FNAME",)), clock)
    with serve_in_thread(sandbox.app) as base_url:
        async with sync_rig(database_url, clock) as rig:
            await _connect(
                rig,
                "mailchimp",
                {"api_base_url": f"{base_url}/3.0", "list_id": DEFAULT_LIST_ID},
                {"api_key": MAILCHIMP_KEY},
            )
            await rig.syncs.create(
                _batch(
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
