"""KARTE's Marketo rows (issue 19, point 5), on SQLite and PostgreSQL: a realtime identify
that carries only a Munchkin cookie reaches the lead that holds it in the Marketo sandbox;
the Munchkin private key gives pushed profiles ``marketo_hash``; both KARTE segments are
profile queries."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.connectors.connections import update_connection
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.events.profiles import ProfileQuery, apply_events, find_profiles
from renkei.ids import new_id

from .harness import START, SyncRig, marketo, sync_rig

pytestmark = pytest.mark.timeout(180)

COOKIE = "id:123-ABC-456&token:_mch-example.com-1700000000000-12345"
PRIVATE_KEY = "munchkin-private-key-for-tests"
LOOKUP = "GET /rest/v1/leads.json"
ASSOCIATE = "POST /rest/v1/leads/{leadId}/associate.json"
REALTIME: dict[str, Any] = {
    "name": "realtime",
    "connection": "marketo",
    "direction": "push",
    "object": "leads",
    "config": {
        "mapping": [
            {"target": "email", "source": "email"},
            {"target": "firstName", "source": "traits.name"},
        ]
    },
    "trigger": {"events": ["identify"], "suppress_seconds": 86400},
}


async def identify_anonymous(rig: SyncRig, anonymous_id: str, traits: dict[str, Any]) -> None:
    now = rig.clock.now()
    event = Event(
        id=new_id("evt"),
        type="identify",
        name=None,
        data={"traits": traits},
        occurred_at=now,
        received_at=now,
        source_id="src_test",
        anonymous_id=anonymous_id,
    )
    async with rig.hub.database.transaction() as tx:
        fresh = await record_events(rig.hub, tx, [event])
        await apply_events(tx, fresh, now=now)


async def test_an_identify_with_only_a_munchkin_cookie_reaches_its_lead(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        # Munchkin made an anonymous lead on the browser's first tracked visit.
        anonymous = sandbox.seed_leads(1)[0]
        sandbox.state.associate(anonymous, COOKIE)
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            await rig.syncs.create(REALTIME)
            await identify_anonymous(rig, "anon-1", {"marketo_cookie": COOKIE, "name": "Aiko"})
            await rig.run()
            assert anonymous.values["firstName"] == "Aiko"
            assert sandbox.counters.calls[LOOKUP] == 1
            connection_id = await rig.connection_id("marketo")
            async with rig.hub.database.read() as reader:
                (profile,) = await find_profiles(
                    reader, ProfileQuery(identities=[("anonymous_id", "anon-1")])
                )
            kinds = {(i.kind, i.value) for i in profile.identities}
            assert ("marketo_cookie", COOKIE) in kinds
            assert ("marketo_lead_id", f"{connection_id}:{anonymous.id}") in kinds

            # Within KARTE's 24 hours the same cookie costs no call.
            await identify_anonymous(rig, "anon-1", {"marketo_cookie": COOKIE, "name": "A."})
            await rig.run()
            assert sandbox.counters.calls[LOOKUP] == 1

            # A cookie no lead holds and no email: nothing created, counted as an error.
            other = "id:123-ABC-456&token:_mch-example.com-1700000000000-99999"
            await identify_anonymous(rig, "anon-2", {"marketo_cookie": other})
            await rig.run()
            assert len(sandbox.leads) == 1
            runs = await rig.syncs.runs("realtime")
            assert any(
                error.get("code") == "cookie_unknown" for run in runs for error in run.errors
            )
            assert sandbox.violations == []


async def test_a_cookie_with_an_email_is_associated_with_the_upserted_lead(
    database_url: str,
) -> None:
    """The connector's link_cookies on its own: an unknown cookie with an email upserts the
    lead and associates the cookie with it (Associate Lead)."""
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            async with rig.hub.database.read() as reader:
                from renkei.connectors.connections import find_connection

                row = await find_connection(reader, "marketo")
            assert row is not None
            result = await rig.hub.connectors.runtime.call(
                row, "link_cookies", [{"cookie": COOKIE, "email": "ken@example.com"}]
            )
            assert result.ok, result
            lead = sandbox.lead_by_email("ken@example.com")
            assert lead is not None and sandbox.state.cookies[COOKIE.lower()] == lead.id
            assert sandbox.counters.calls[ASSOCIATE] == 1
            assert sandbox.violations == []


async def test_marketo_hash_is_sha1_of_the_private_key_and_the_email(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (_, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            async with rig.hub.database.transaction() as tx:
                await update_connection(
                    tx,
                    "marketo",
                    keyring=rig.hub.keyring,
                    registry=rig.hub.connectors.registry,
                    now=clock.now(),
                    credentials={"munchkin_private_key": PRIVATE_KEY},
                )
            await rig.syncs.create(REALTIME)
            await rig.identify("Sue@Example.com", {"name": "Sue"})
            await rig.run()
            profile = await rig.profile("sue@example.com")
            by_hand = hashlib.sha1(b"munchkin-private-key-for-testssue@example.com").hexdigest()
            assert profile.traits["marketo_hash"]["value"] == by_hand


async def test_a_flow_template_reads_marketo_hash_from_the_profile(database_url: str) -> None:
    """KARTE hands marketo_hash to its scripts: here a flow's template sends it on."""
    from renkei.flows.service import create_flow
    from tests.flows.receivers import receiver

    clock = ManualClock(START)
    with marketo(clock) as (_, base), receiver() as target:
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            async with rig.hub.database.transaction() as tx:
                await update_connection(
                    tx,
                    "marketo",
                    keyring=rig.hub.keyring,
                    registry=rig.hub.connectors.registry,
                    now=clock.now(),
                    credentials={"munchkin_private_key": PRIVATE_KEY},
                )
                await create_flow(
                    rig.hub,
                    tx,
                    {
                        "name": "munchkin-script",
                        "trigger": {"event_types": ["track"]},
                        "steps": [
                            {
                                "action": {
                                    "url": target.url + "/script",
                                    "body": {
                                        "email": "{{ profile.traits.email }}",
                                        "hash": "{{ profile.traits.marketo_hash }}",
                                    },
                                }
                            }
                        ],
                    },
                )
            await rig.syncs.create(REALTIME)
            await rig.identify("sue@example.com", {"name": "Sue"})
            await rig.run()
            await rig.track("sue@example.com", "Viewed Pricing", {})
            await rig.run()
            try:
                (sent,) = target.to("/script")
                by_hand = hashlib.sha1(b"munchkin-private-key-for-testssue@example.com").hexdigest()
                assert sent.json() == {"email": "sue@example.com", "hash": by_hand}
            finally:
                await rig.hub.flows.close()
                await rig.hub.webhooks.close()
