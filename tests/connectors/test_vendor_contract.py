"""Every request the Marketo and HubSpot connectors send, over a run that uses every
operation, validates against the vendors' own API descriptions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from renkei.clock import ManualClock
from renkei.sandbox import (
    HubSpotSandboxConfig,
    MarketoSandboxConfig,
    create_hubspot_app,
    create_marketo_app,
    serve_in_thread,
)

from .harness import (
    HUBSPOT_CREDENTIALS,
    MARKETO_CREDENTIALS,
    START,
    contacts,
    leads,
    rig,
)
from .vendor_contract import Recorder, check_hubspot, check_marketo

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def marketo(clock: ManualClock) -> Iterator[tuple[Recorder, str]]:
    sandbox = create_marketo_app(MarketoSandboxConfig(seed_leads=5, seed_activities=30), clock)
    recorder = Recorder(sandbox.app)
    with serve_in_thread(recorder) as base_url:
        yield recorder, base_url


@pytest.fixture
def hubspot(clock: ManualClock) -> Iterator[tuple[Recorder, str]]:
    sandbox = create_hubspot_app(HubSpotSandboxConfig(seed_contacts=30), clock)
    recorder = Recorder(sandbox.app)
    with serve_in_thread(recorder) as base_url:
        yield recorder, base_url


async def test_marketo_requests_follow_adobes_swagger(
    database_url: str, clock: ManualClock, marketo: tuple[Recorder, str]
) -> None:
    recorder, base_url = marketo
    async with rig(database_url, clock) as r:
        await r.connect(
            "mkto",
            "marketo",
            config={"base_url": base_url, "activity_type_id": 100001},
            credentials=MARKETO_CREDENTIALS,
        )
        assert (await r.service.test("mkto"))["ok"]
        await r.submit("mkto", "upsert_leads", leads(10))
        await r.submit(
            "mkto",
            "add_activities",
            [
                {
                    "leadId": 1,
                    "primaryAttributeValue": "Signed up",
                    "attributes": [{"name": "Event Id", "value": "evt_1"}],
                }
            ],
        )
        await r.drive()
        await r.service.call(
            "mkto",
            "read_activities",
            {"since": "2026-03-01T00:00:00Z", "activity_type_ids": [1, 12], "lead_ids": [1, 2]},
        )
        await r.service.call(
            "mkto",
            "read_lead_changes",
            {"since": "2026-03-01T00:00:00Z", "fields": ["firstName", "email"], "batch_size": 5},
        )
    paths = {(call.method, call.path) for call in recorder.requests}
    assert paths == {
        ("GET", "/identity/oauth/token"),
        ("GET", "/rest/v1/leads/describe.json"),
        ("POST", "/rest/v1/leads.json"),
        ("POST", "/rest/v1/activities/external.json"),
        ("GET", "/rest/v1/activities/pagingtoken.json"),
        ("GET", "/rest/v1/activities.json"),
        ("GET", "/rest/v1/activities/leadchanges.json"),
    }
    for call in recorder.requests:
        check_marketo(call)


async def test_hubspot_requests_follow_hubspots_openapi(
    database_url: str, clock: ManualClock, hubspot: tuple[Recorder, str]
) -> None:
    recorder, base_url = hubspot
    async with rig(database_url, clock) as r:
        await r.connect(
            "hs", "hubspot", config={"base_url": base_url}, credentials=HUBSPOT_CREDENTIALS
        )
        assert (await r.service.test("hs"))["ok"]
        await r.submit("hs", "upsert_contacts", [*contacts(5), {"email": "a@b.co", "n": 1}])
        await r.submit(
            "hs",
            "send_events",
            [{"eventName": "pe1_signup", "email": "a@b.co", "properties": {"n": 1}}],
        )
        await r.drive()
        await r.service.call("hs", "read_contacts", {"since": 0, "page_size": 10})
    paths = {(call.method, call.path) for call in recorder.requests}
    assert paths == {
        ("GET", "/crm/v3/objects/contacts"),
        ("POST", "/crm/v3/objects/contacts/batch/upsert"),
        ("POST", "/events/v3/send/batch"),
        ("POST", "/crm/v3/objects/contacts/search"),
    }
    for call in recorder.requests:
        check_hubspot(call)


async def test_marketo_read_leads_follows_adobes_swagger(
    database_url: str, clock: ManualClock, marketo: tuple[Recorder, str]
) -> None:
    """``read_leads`` (the current values of leads by id, which a pull of leads reads after
    the lead changes) is an operation of the connector, under its limits and quota."""
    recorder, base_url = marketo
    async with rig(database_url, clock) as r:
        await r.connect(
            "mkto", "marketo", config={"base_url": base_url}, credentials=MARKETO_CREDENTIALS
        )
        await r.submit("mkto", "upsert_leads", leads(3))
        await r.drive()
        result = await r.service.call(
            "mkto", "read_leads", {"ids": [1, 2, 3, 999], "fields": ["id", "email", "updatedAt"]}
        )
        usage = await r.service.usage("mkto")
    found = {lead["id"]: lead for lead in result.data["records"]}
    assert set(found) == {1, 2, 3}
    assert all("@" in lead["email"] and lead["updatedAt"] for lead in found.values())
    reads = [
        call
        for call in recorder.requests
        if call.method == "GET" and call.path == "/rest/v1/leads.json"
    ]
    assert len(reads) == 1
    assert usage["daily_quota"]["used"] >= 2  # the upsert and the read both count
    for call in recorder.requests:
        check_marketo(call)


async def test_marketo_cookie_links_follow_adobes_swagger(
    database_url: str, clock: ManualClock, marketo: tuple[Recorder, str]
) -> None:
    """``link_cookies`` (issue 19): the lead lookup by cookie (``filterType=cookies``), the
    update on ``id`` and Associate Lead, each request checked against Adobe's swagger."""
    recorder, base_url = marketo
    cookie = "id:123-ABC-456&token:_mch-example.com-1700000000000-12345"
    async with rig(database_url, clock) as r:
        await r.connect(
            "mkto", "marketo", config={"base_url": base_url}, credentials=MARKETO_CREDENTIALS
        )
        first = await r.service.call(
            "mkto", "link_cookies", [{"cookie": cookie, "email": "c@example.com"}]
        )
        again = await r.service.call("mkto", "link_cookies", [{"cookie": cookie, "firstName": "C"}])
        unknown = await r.service.call(
            "mkto", "link_cookies", [{"cookie": cookie.replace("12345", "54321")}]
        )
    assert first.ok and again.ok and again.records[0].id == first.records[0].id
    assert [r.code for r in unknown.failed] == ["cookie_unknown"]
    paths = [(c.method, c.path) for c in recorder.requests if c.path.startswith("/rest")]
    assert ("POST", f"/rest/v1/leads/{first.records[0].id}/associate.json") in paths
    lookups = [c for c in recorder.requests if ("filterType", "cookies") in c.query]
    assert len(lookups) == 3 and all(("filterValues", cookie) in c.query for c in lookups[:2])
    for call in recorder.requests:
        check_marketo(call)


async def test_the_deletions_follow_the_vendors_descriptions(
    database_url: str,
    clock: ManualClock,
    marketo: tuple[Recorder, str],
    hubspot: tuple[Recorder, str],
) -> None:
    """Privacy deletions (issue 20): Marketo's Delete Leads (after a lookup by email) and
    HubSpot's GDPR delete validate against the vendors' specs; a person the vendor does not
    hold is deleted 0 times, not an error."""
    (marketo_recorder, marketo_url), (hubspot_recorder, hubspot_url) = marketo, hubspot
    async with rig(database_url, clock) as r:
        await r.connect(
            "mkto", "marketo", config={"base_url": marketo_url}, credentials=MARKETO_CREDENTIALS
        )
        await r.connect(
            "hs", "hubspot", config={"base_url": hubspot_url}, credentials=HUBSPOT_CREDENTIALS
        )
        by_email = await r.service.call(
            "mkto", "delete_leads", {"emails": ["lead1@example.com", "nobody@example.com"]}
        )
        by_id = await r.service.call("mkto", "delete_leads", {"ids": [2, 1]})
        contact = await r.service.call(
            "hs", "gdpr_delete_contacts", {"emails": ["Contact3@example.com", "nobody@x.co"]}
        )
    assert by_email.data == {"deleted": 1, "ids": [1]}
    assert by_id.data == {"deleted": 1, "ids": [2]}  # lead 1 is gone already: skipped
    assert contact.data == {"deleted": 1}
    assert ("POST", "/rest/v1/leads/delete.json") in {
        (c.method, c.path) for c in marketo_recorder.requests
    }
    for call in marketo_recorder.requests:
        check_marketo(call)
    assert [c.path for c in hubspot_recorder.requests].count(
        "/crm/v3/objects/contacts/gdpr-delete"
    ) == 2
    for call in hubspot_recorder.requests:
        check_hubspot(call)
