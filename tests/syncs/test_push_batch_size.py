"""A batch push sends at most what the connector's write takes in one call: HubSpot's batch
upsert takes 100 contacts, so a push of 150 profiles without a ``batch_size`` of its own
goes out in two calls (it used to send 300 at once, which the connector refused: the run
failed and nothing was sent). On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from renkei.clock import ManualClock
from renkei.connectors.connections import create_connection
from renkei.sandbox import serve_in_thread
from renkei.sandbox.hubspot import DEFAULT_TOKEN, HubSpotSandboxConfig, create_hubspot_app

from .harness import START, sync_rig

pytestmark = pytest.mark.timeout(120)


async def test_a_push_of_150_profiles_to_hubspot_goes_out_100_at_a_time(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    sandbox = create_hubspot_app(HubSpotSandboxConfig(), clock)
    with serve_in_thread(sandbox.app) as base_url:
        async with sync_rig(database_url, clock) as rig:
            async with rig.hub.database.transaction() as tx:
                await create_connection(
                    tx,
                    keyring=rig.hub.keyring,
                    registry=rig.hub.connectors.registry,
                    now=clock.now(),
                    name="hubspot",
                    connector="hubspot",
                    config={"base_url": base_url},
                    credentials={"access_token": DEFAULT_TOKEN},
                )
            await rig.syncs.create(
                {
                    "name": "profiles-to-contacts",
                    "connection": "hubspot",
                    "direction": "push",
                    "object": "contacts",
                    "trigger": {"every_seconds": 1800},
                }
            )
            await rig.identify_many(
                [(f"person{n}@example.com", {"firstname": f"P{n}"}, None) for n in range(150)]
            )
            clock.advance(60)
            await rig.syncs.run("profiles-to-contacts")
            await rig.run()

            (run,) = await rig.syncs.runs("profiles-to-contacts")
            assert (run.status, run.counts["created"], run.counts["calls"]) == (
                "succeeded",
                150,
                2,
            ), run.errors
            assert sandbox.contact_by_email("person149@example.com") is not None
            assert sandbox.violations == []
