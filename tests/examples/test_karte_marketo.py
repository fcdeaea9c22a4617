"""examples/karte-marketo: the four directions of KARTE ↔ Marketo against the Marketo
sandbox, on SQLite and PostgreSQL, with the example's renkei.yaml applied as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from renkei.clock import ManualClock
from renkei.config import load_config
from renkei.events.profiles import vendor_ids
from renkei.hub import Hub
from renkei.sandbox.marketo import LeadField
from tests.support.server import running_hub
from tests.syncs.harness import START, SyncRig, marketo, sync_rig

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "karte-marketo" / "renkei.yaml"
CUSTOM_FIELDS = (
    LeadField("lastPurchaseDate", "date", "Last Purchase Date"),
    LeadField("vipMember", "boolean", "VIP Member"),
)
WEBHOOK_SECRET = "mkto-hook-secret-0123456789"


async def apply_example(rig: SyncRig, base_url: str) -> dict[str, str]:
    sections = list(yaml.safe_load(EXAMPLE.read_text()))
    env = {
        "MARKETO_BASE_URL": base_url,
        "MARKETO_CLIENT_ID": "renkei-sandbox",
        "MARKETO_CLIENT_SECRET": "renkei-sandbox-secret",
        "MARKETO_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    config = load_config(EXAMPLE, known_sections=sections, environ=env)
    ids: dict[str, str] = {}
    for section in ("connections", "sources", "syncs"):
        for spec in config[section]:
            ids[spec["name"]] = await rig.hub.resources[section].apply(rig.hub, spec, None)
    return ids


async def sync_runs(rig: SyncRig, name: str) -> list[dict[str, Any]]:
    return [run.to_dict() for run in await rig.syncs.runs(name)]


async def test_marketo_leads_become_profiles_matched_by_email(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo(clock, custom_fields=CUSTOM_FIELDS) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await apply_example(rig, base)
            await rig.identify("ada@example.com", {"plan": "pro"}, user_id="u-ada")
            await rig.run()  # the realtime push creates Ada's lead
            state = sandbox.state
            ada = sandbox.lead_by_email("ada@example.com")
            assert ada is not None
            bob = state.create_lead({"email": "Bob@Example.com", "firstName": "Bob"})
            clock.advance(60)
            state.update_lead(ada, {"firstName": "Ada", "lastName": "Lovelace"})
            state.update_lead(ada, {"unsubscribed": True})
            state.update_lead(bob, {"company": "Acme"})
            clock.advance(60)

            await rig.syncs.run("marketo-leads-to-profiles")
            await rig.run()

            profile = await rig.profile("ada@example.com")
            assert profile.values("user_id") == ["u-ada"]  # matched the existing profile
            lead_ids = vendor_ids(profile, "marketo_lead_id", await rig.connection_id("marketo"))
            assert lead_ids == [str(ada.id)]
            traits = {k: v["value"] for k, v in profile.traits.items()}
            assert traits["first_name"] == "Ada"
            assert traits["last_name"] == "Lovelace"
            assert traits["unsubscribed"] is True
            assert traits["plan"] == "pro"
            bob_profile = await rig.profile("bob@example.com")
            assert bob_profile.traits["company"]["value"] == "Acme"
            (run,) = await sync_runs(rig, "marketo-leads-to-profiles")
            assert run["status"] == "succeeded"
            assert run["read"] >= 4  # new leads and changes to the fields read
            assert (run["created"], run["updated"]) >= (1, 1)

            # The cursor holds: a second run reads only what changed since.
            state.update_lead(bob, {"lastName": "Builder"})
            clock.advance(60)
            await rig.syncs.run("marketo-leads-to-profiles")
            await rig.run()
            latest = (await sync_runs(rig, "marketo-leads-to-profiles"))[0]
            assert latest["read"] == 1
            assert (await rig.profile("bob@example.com")).traits["last_name"]["value"] == "Builder"
            assert sandbox.violations == []


async def test_marketo_activities_become_events_by_polling_and_by_webhook(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            ids = await apply_example(rig, base)
            sandbox.seed_leads(5)
            sandbox.seed_activities(700)  # Visit Webpage, spread over the 5 leads
            await rig.syncs.run("marketo-activities-to-events")
            await rig.run()
            (run,) = await sync_runs(rig, "marketo-activities-to-events")
            assert (run["status"], run["read"], run["created"]) == ("succeeded", 700, 700)
            # three pages of 300, each served once
            assert sorted(sandbox.counters.pages_served.values()) == [1, 1, 1]
            events = await rig.events_of_type("marketo.activity")
            assert len(events) == 700
            assert {e["data"]["marketo_lead_id"] for e in events} == set(range(1, 6))

            # Marketo's webhook: the payload template, the secret in the URL.
            server_hub = Hub(rig.hub.settings, clock=clock)
            with running_hub(database_url, with_worker=False, hub=server_hub) as (url, _):
                hook = f"{url}/hooks/{ids['marketo-webhook']}"
                body = {
                    "activity": "form_filled",
                    "leadId": "3",
                    "email": "lead3@example.com",
                    "at": "2026-03-02T14:59:00Z",
                }
                refused = httpx.post(hook, json=body, params={"secret": "wrong"}, timeout=30)
                assert refused.status_code in (401, 403)
                accepted = httpx.post(
                    hook, json=body, params={"secret": WEBHOOK_SECRET}, timeout=30
                )
                assert accepted.status_code in (200, 202), accepted.text
            await server_hub.database.dispose()
            hooked = await rig.events_of_type("marketo.form_filled")
            assert [e["email"] for e in hooked] == ["lead3@example.com"]


async def test_profiles_become_marketo_leads_with_mapping_and_blocklist(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo(clock, custom_fields=CUSTOM_FIELDS) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await apply_example(rig, base)
            await rig.identify(
                "kim@example.com",
                {
                    "first_name": "Kim",
                    "last_name": "Lee",
                    "birthday": "1990/04/01",
                    "last_purchase_at": "1767225600",  # 2026-01-01T00:00:00Z
                    "vip": "yes",
                    "phone": "+81-3-0000-0000",  # blocklisted: never sent
                },
                user_id="u-kim",
            )
            await rig.run()  # the realtime push
            lead = sandbox.lead_by_email("kim@example.com")
            assert lead is not None
            assert lead.values["firstName"] == "Kim"
            assert lead.values["lastName"] == "Lee"
            assert str(lead.values["dateOfBirth"]) == "1990-04-01"
            assert str(lead.values["lastPurchaseDate"]) == "2026-01-01"
            assert lead.values["vipMember"] is True
            assert lead.values["unsubscribed"] is False  # the flag set with the email
            assert "phone" not in lead.values
            profile = await rig.profile("kim@example.com")
            lead_ids = vendor_ids(profile, "marketo_lead_id", await rig.connection_id("marketo"))
            assert lead_ids == [str(lead.id)]

            # The periodic batch carries a change the suppression window held back.
            await rig.identify("kim@example.com", {"last_name": "Lee-Park"})
            await rig.run()
            assert lead.values["lastName"] == "Lee"
            clock.advance(1800)
            await rig.hub.queue.run_due_schedules()
            await rig.run()
            assert lead.values["lastName"] == "Lee-Park"
            assert sandbox.violations == []


async def test_events_become_marketo_custom_activities(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await apply_example(rig, base)
            await rig.identify("joe@example.com", {"first_name": "Joe"})
            await rig.run()
            event_id = await rig.track("joe@example.com", "Purchased", {"sku": "A-1", "price": 12})
            await rig.track("joe@example.com", "Viewed", {"sku": "A-1"})  # not subscribed
            await rig.run()
            (activity,) = sandbox.custom_activities
            lead = sandbox.lead_by_email("joe@example.com")
            assert lead is not None and activity.lead_id == lead.id
            assert activity.primary_attribute_value == "Purchased"
            values = {a.get("apiName") or a.get("name"): a["value"] for a in activity.attributes}
            assert event_id in values.values()
            assert sandbox.violations == []
