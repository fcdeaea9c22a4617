"""Vendor ids belong to their connection: two Marketo instances (say staging and
production) both have a lead #1, and those are two people, never merged by lead id."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from renkei.clock import ManualClock
from renkei.events.profiles import vendor_ids
from tests.support.server import admin_client, running_hub

from .harness import START, marketo, sync_rig

pytestmark = pytest.mark.timeout(120)

LEADS = {"fields": ["email", "firstName"], "page_size": 300}


async def test_lead_one_of_two_marketo_connections_are_two_people(database_url: str) -> None:
    clock = ManualClock(START)
    with ExitStack() as stack:
        staging, staging_url = stack.enter_context(marketo(clock))
        production, production_url = stack.enter_context(marketo(clock))
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(staging_url, name="marketo-staging")
            await rig.connect(production_url, name="marketo-production")
            for name in ("marketo-staging", "marketo-production"):
                await rig.syncs.create(
                    {
                        "name": f"{name}-leads",
                        "connection": name,
                        "direction": "pull",
                        "object": "leads",
                        "config": LEADS,
                    }
                )
            ada = staging.state.create_lead({"email": "ada@example.com", "firstName": "Ada"})
            bob = production.state.create_lead({"email": "bob@example.com", "firstName": "Bob"})
            assert ada.id == bob.id == 1  # the same lead id in both instances
            clock.advance(60)

            await rig.syncs.run("marketo-staging-leads")
            await rig.syncs.run("marketo-production-leads")
            await rig.run()

            ada_profile = await rig.profile("ada@example.com")
            bob_profile = await rig.profile("bob@example.com")
            assert ada_profile is not None and bob_profile is not None
            assert ada_profile.id != bob_profile.id
            assert ada_profile.values("email") == ["ada@example.com"]
            assert bob_profile.values("email") == ["bob@example.com"]
            assert ada_profile.traits["firstName"]["value"] == "Ada"
            assert bob_profile.traits["firstName"]["value"] == "Bob"

            staging_conn = await rig.connection_id("marketo-staging")
            production_conn = await rig.connection_id("marketo-production")
            assert vendor_ids(ada_profile, "marketo_lead_id", staging_conn) == ["1"]
            assert vendor_ids(ada_profile, "marketo_lead_id", production_conn) == []
            assert vendor_ids(bob_profile, "marketo_lead_id", production_conn) == ["1"]
            assert vendor_ids(bob_profile, "marketo_lead_id", staging_conn) == []

            # The API finds a lead by its id in a connection.
            with (
                running_hub(database_url, with_worker=False) as (base_url, _),
                admin_client(base_url) as api,
            ):
                for connection, email in (
                    ("marketo-staging", "ada@example.com"),
                    ("marketo-production", "bob@example.com"),
                ):
                    found = api.get(
                        "/api/v1/profiles",
                        params={
                            "kind": "marketo_lead_id",
                            "value": "1",
                            "connection": connection,
                        },
                    )
                    assert found.status_code == 200, found.text
                    [profile] = found.json()["data"]
                    emails = [i["value"] for i in profile["identities"] if i["kind"] == "email"]
                    assert emails == [email]
                missing = api.get(
                    "/api/v1/profiles",
                    params={"kind": "marketo_lead_id", "value": "1", "connection": "nope"},
                )
                assert missing.status_code == 404
