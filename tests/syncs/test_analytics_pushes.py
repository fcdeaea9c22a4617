"""Syncs push profiles to Amplitude users (Identify ``$set``) and OneSignal users (tags)
through the generic engine, on SQLite and PostgreSQL: a scheduled batch with a mapping, and
realtime pushes inside and after a suppression window."""

from __future__ import annotations

import pytest

from renkei.sandbox.amplitude import DEFAULT_API_KEY as AMPLITUDE_KEY
from renkei.sandbox.amplitude import AmplitudeSandboxConfig, create_amplitude_app
from renkei.sandbox.onesignal import DEFAULT_API_KEY as ONESIGNAL_KEY
from renkei.sandbox.onesignal import DEFAULT_APP_ID, OneSignalSandboxConfig, create_onesignal_app

from .harness import push_sync, sandbox_rig

pytestmark = pytest.mark.timeout(180)


async def test_a_batch_push_sets_mapped_fields_on_amplitude_users(database_url: str) -> None:
    async with sandbox_rig(
        database_url, lambda clock: create_amplitude_app(AmplitudeSandboxConfig(), clock)
    ) as (sandbox, base_url, rig):
        clock = rig.clock
        await rig.connect_vendor("amplitude", {"base_url": base_url}, {"api_key": AMPLITUDE_KEY})
        await rig.syncs.create(
            push_sync(
                "profiles-to-amplitude",
                "amplitude",
                "users",
                [
                    {"target": "plan", "source": "traits.plan"},
                    {"target": "first_name", "source": "traits.name"},
                ],
            )
        )
        await rig.identify_many(
            [
                (f"person{n}@example.com", {"name": f"P{n}", "plan": "pro", "ssn": "x"}, None)
                for n in range(150)
            ]
        )
        clock.advance(60)
        await rig.syncs.run("profiles-to-amplitude")
        await rig.run()

        (run,) = await rig.syncs.runs("profiles-to-amplitude")
        assert (run.status, run.counts["updated"], run.counts["calls"]) == (
            "succeeded",
            150,
            1,  # one Identify request: Amplitude takes 2,000 a request
        ), run.errors
        user = sandbox.user("person149@example.com")
        assert user is not None and user.properties == {
            "email": "person149@example.com",
            "plan": "pro",
            "first_name": "P149",
        }  # only what the mapping names (no "ssn")
        profile = await rig.profile("person149@example.com")
        connection_id = await rig.connection_id("amplitude")
        assert profile.values("amplitude_user_id") == [f"{connection_id}:person149@example.com"]
        assert sandbox.violations == []


async def test_realtime_pushes_to_onesignal_honour_the_suppression_window(
    database_url: str,
) -> None:
    async with sandbox_rig(
        database_url, lambda clock: create_onesignal_app(OneSignalSandboxConfig(), clock)
    ) as (sandbox, base_url, rig):
        clock = rig.clock
        await rig.connect_vendor(
            "onesignal",
            {"base_url": base_url, "app_id": DEFAULT_APP_ID},
            {"rest_api_key": ONESIGNAL_KEY},
        )
        await rig.syncs.create(
            push_sync(
                "tags",
                "onesignal",
                "users",
                [
                    {"target": "external_id", "source": "user_id"},
                    {"target": "plan", "source": "traits.plan"},
                    {"target": "language", "source": "traits.language"},
                ],
                trigger={"events": ["identify"], "suppress_seconds": 3600},
            )
        )
        sandbox.add_user("crm-1", tags={"plan": "free"})  # registered by the app's SDK
        await rig.identify("sue@example.com", {"plan": "pro", "language": "ja"}, "crm-1")
        await rig.run()
        sue = sandbox.user("crm-1")
        assert sue is not None and sue.tags == {"plan": "pro"}
        assert sue.properties["language"] == "ja"

        clock.advance(minutes=30)
        await rig.identify("sue@example.com", {"plan": "team"}, "crm-1")
        await rig.run()
        assert sue.tags == {"plan": "pro"}  # suppressed for an hour after the push

        await rig.identify("tom@example.com", {"plan": "free"})  # no user_id: the email
        await rig.run()
        tom = sandbox.user("tom@example.com")
        assert tom is not None and tom.tags == {"plan": "free"}  # created

        clock.advance(minutes=31)
        await rig.identify("sue@example.com", {"plan": "team"}, "crm-1")
        await rig.run()
        assert sue.tags == {"plan": "team"}

        runs = await rig.syncs.runs("tags")
        assert sum(run.counts.get("calls", 0) for run in runs) == 3  # Sue, Tom, Sue again
        assert sandbox.counters.calls["POST /apps/" + DEFAULT_APP_ID + "/users"] == 1
        profile = await rig.profile("sue@example.com")
        connection_id = await rig.connection_id("onesignal")
        assert profile.values("onesignal_external_id") == [f"{connection_id}:crm-1"]
        assert sandbox.violations == []
