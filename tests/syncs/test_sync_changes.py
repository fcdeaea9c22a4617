"""An event's timeline shows the changes realtime syncs made for it: the real realtime path
(ingest fan-out, the queue's push job, the connector against the Marketo sandbox), on
SQLite and PostgreSQL; and the record is kept as long as the connectors' records."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from renkei.api.app import create_app
from renkei.clock import ManualClock
from renkei.dashboard import with_dashboard
from renkei.syncs.changes import forget_old_changes
from renkei.usecases.access import LOCAL
from renkei.usecases.timeline import timeline
from tests.support.server import ADMIN_TOKEN

from .harness import START, SyncRig, marketo, sync_rig

pytestmark = pytest.mark.timeout(180)


async def _changes(rig: SyncRig, event_id: str) -> list[dict[str, Any]]:
    found = await timeline(rig.hub, LOCAL, event_id)
    return [entry.item for entry in found.entries if entry.kind == "sync_change"]


async def _event_page(rig: SyncRig, event_id: str) -> str:
    app = with_dashboard(create_app(rig.hub, with_worker=False), rig.hub)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        form = await client.get("/ui/login")
        csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = await client.post(
            "/ui/login", data={"csrf_token": csrf, "token": ADMIN_TOKEN, "next": "/ui/"}
        )
        assert signed.status_code == 303, signed.text
        # the session expires on the rig's clock, in the past for httpx's cookie jar
        (session,) = (
            cookie.split(";", 1)[0]
            for cookie in signed.headers.get_list("set-cookie")
            if cookie.startswith("renkei_session=")
        )
        page = await client.get(f"/ui/events/{event_id}", headers={"Cookie": session})
        assert page.status_code == 200, page.text
        return page.text


async def test_a_realtime_profile_push_is_in_the_timeline_of_the_event_that_caused_it(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            sync = await rig.syncs.create(
                {
                    "name": "leads-realtime",
                    "connection": "marketo",
                    "direction": "push",
                    "object": "leads",
                    "config": {
                        "mapping": [
                            {"target": "email", "source": "email"},
                            {"target": "firstName", "source": "traits.name"},
                        ]
                    },
                    "trigger": {"events": ["identify"]},
                }
            )
            await rig.identify("sue@example.com", {"name": "Sue"})
            await rig.run()
            (event,) = await rig.events_of_type("identify")
            lead = sandbox.lead_by_email("sue@example.com")
            assert lead is not None

            (change,) = await _changes(rig, event["id"])
            assert change["sync_id"] == sync.id
            assert change["sync_name"] == "leads-realtime"
            assert change["connection"] == "marketo"
            assert change["object"] == "leads"
            assert change["outcome"] == "created"
            assert change["vendor_id"] == str(lead.id)
            assert change["error"] is None
            assert change["at"] == START

            page = await _event_page(rig, event["id"])
            assert "Sync change" in page
            assert "leads-realtime" in page
            assert "record created" in page

            # kept as long as the connectors' records (7 days in the settings' default)
            clock.advance(days=6)
            assert await forget_old_changes(rig.hub) == 0
            clock.advance(days=1, seconds=1)
            assert await forget_old_changes(rig.hub) == 1
            assert await _changes(rig, event["id"]) == []


async def test_a_realtime_event_push_is_in_the_timeline_of_its_event(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            await rig.syncs.create(
                {
                    "name": "activities-realtime",
                    "connection": "marketo",
                    "direction": "push",
                    "object": "activities",
                    "trigger": {"events": ["track"]},
                }
            )
            await rig.identify("sue@example.com", {"name": "Sue"})
            pushed = await rig.track("sue@example.com", "Order Completed", {"total": 12})
            await rig.run()
            (change,) = await _changes(rig, pushed)
            assert change["object"] == "activities"
            assert change["outcome"] == "created"
            (identified,) = await rig.events_of_type("identify")
            assert await _changes(rig, identified["id"]) == []  # no trigger: no change
            assert sandbox.violations == []
