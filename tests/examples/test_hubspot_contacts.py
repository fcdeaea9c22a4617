"""examples/hubspot-contacts: HubSpot contacts both ways against the HubSpot sandbox, on
SQLite and PostgreSQL, with the example's renkei.yaml applied as written."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from renkei.clock import ManualClock
from renkei.config import load_config
from renkei.events.profiles import vendor_ids
from renkei.sandbox import serve_in_thread
from renkei.sandbox.hubspot import (
    DEFAULT_TOKEN,
    HubSpotSandbox,
    HubSpotSandboxConfig,
    create_hubspot_app,
)
from tests.syncs.harness import START, SyncRig, sync_rig

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hubspot-contacts" / "renkei.yaml"


@contextlib.contextmanager
def hubspot(clock: ManualClock) -> Iterator[tuple[HubSpotSandbox, str]]:
    sandbox = create_hubspot_app(HubSpotSandboxConfig(), clock)
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url


async def apply_example(rig: SyncRig, base_url: str) -> None:
    sections = list(yaml.safe_load(EXAMPLE.read_text()))
    env = {"HUBSPOT_BASE_URL": base_url, "HUBSPOT_TOKEN": DEFAULT_TOKEN}
    config = load_config(EXAMPLE, known_sections=sections, environ=env)
    for section in ("connections", "syncs"):
        for spec in config[section]:
            await rig.hub.resources[section].apply(rig.hub, spec, None)


async def test_hubspot_contacts_are_pulled_by_lastmodifieddate(database_url: str) -> None:
    clock = ManualClock(START)
    with hubspot(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await apply_example(rig, base)
            sandbox.seed_contacts(250, spacing_seconds=1)
            await rig.syncs.run("hubspot-contacts-to-profiles")
            await rig.run()
            (run,) = await rig.syncs.runs("hubspot-contacts-to-profiles")
            assert (run.status, run.counts["read"], run.counts["created"]) == (
                "succeeded",
                250,
                250,
            )
            profile = await rig.profile("contact7@example.com")
            assert profile.traits["last_name"]["value"] == "7"
            assert profile.values("hubspot_contact_id")

            # Only what changed since the cursor is read again.
            clock.advance(60)
            contact = sandbox.contact_by_email("contact7@example.com")
            assert contact is not None
            sandbox.state.update(contact, {"lastname": "Seven"})
            await rig.syncs.run("hubspot-contacts-to-profiles")
            await rig.run()
            latest = (await rig.syncs.runs("hubspot-contacts-to-profiles"))[0]
            assert latest.status == "succeeded"
            assert latest.counts["read"] == 1
            assert (await rig.profile("contact7@example.com")).traits["last_name"][
                "value"
            ] == "Seven"
            assert sandbox.violations == []


async def test_profiles_are_pushed_to_hubspot_by_email(database_url: str) -> None:
    clock = ManualClock(START)
    with hubspot(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await apply_example(rig, base)
            await rig.identify(
                "ann@example.com",
                {"first_name": "Ann", "last_name": "Ito", "birthday": "1985/12/24", "phone": "1"},
            )
            await rig.run()
            contact = sandbox.contact_by_email("ann@example.com")
            assert contact is not None
            assert contact.properties["firstname"] == "Ann"
            assert contact.properties["date_of_birth"] == "1985-12-24"
            assert "phone" not in contact.properties or not contact.properties["phone"]
            profile = await rig.profile("ann@example.com")
            hubspot_id = await rig.connection_id("hubspot")
            assert vendor_ids(profile, "hubspot_contact_id", hubspot_id) == [str(contact.id)]

            # Within the hour: suppressed; the 30-minute batch carries the change.
            await rig.identify("ann@example.com", {"last_name": "Ito-Sato"})
            await rig.run()
            clock.advance(1800)
            await rig.hub.queue.run_due_schedules()
            await rig.run()
            assert contact.properties["lastname"] == "Ito-Sato"
            assert sandbox.violations == []
