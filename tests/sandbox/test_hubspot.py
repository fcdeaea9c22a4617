"""The HubSpot sandbox through real HTTP on loopback, time moved by a ManualClock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from renkei.clock import ManualClock
from renkei.sandbox import HubSpotSandbox, HubSpotSandboxConfig, ViolationKind
from renkei.sandbox._common import epoch_millis

from .spec import assert_hubspot

Start = Callable[..., tuple[HubSpotSandbox, httpx.Client]]
CONTACTS = "/crm/v3/objects/contacts"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
SEARCH = "/crm/v3/objects/contacts/search"
SEND = "/events/v3/send"


def upsert_by_email(*rows: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "inputs": [
            {"idProperty": "email", "id": email, "properties": properties}
            for email, properties in rows
        ]
    }


def modified_since(millis: int, limit: int = 10, after: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": millis}]}
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "lastmodifieddate"],
        "limit": limit,
    }
    if after is not None:
        body["after"] = after
    return body


def search_all(http: httpx.Client, body: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    while True:
        response = http.post(SEARCH, json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [result["id"] for result in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            return ids
        body = {**body, "after": after}


# --- authentication --------------------------------------------------------------------


def test_missing_or_bad_token_answers_401_with_hubspot_error_body(hubspot: Start) -> None:
    sandbox, http = hubspot()
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer pat-na1-wrong"}):
        response = http.get(CONTACTS, headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert_hubspot(body, "Error", "send-event-completions-v3.json")
        assert body["status"] == "error"
        assert body["category"] == "INVALID_AUTHENTICATION"
    assert sandbox.daily_used == 0


def test_missing_scope_answers_403(hubspot: Start) -> None:
    _, http = hubspot(scopes=frozenset({"crm.objects.contacts.read"}))
    assert http.get(CONTACTS).status_code == 200
    response = http.post(UPSERT, json=upsert_by_email(("a@example.com", {})))
    assert response.status_code == 403
    assert response.json()["category"] == "MISSING_SCOPES"


# --- batch upsert ----------------------------------------------------------------------


def test_upsert_by_email_creates_then_updates_and_stamps_lastmodifieddate(
    hubspot: Start, clock: ManualClock
) -> None:
    sandbox, http = hubspot()
    created = http.post(UPSERT, json=upsert_by_email(("Ann@Example.com", {"firstname": "Ann"})))
    assert created.status_code == 200
    body = created.json()
    assert_hubspot(body, "BatchResponseSimplePublicUpsertObject")
    [result] = body["results"]
    assert result["new"] is True
    assert result["properties"]["email"] == "ann@example.com"
    assert result["properties"]["lastmodifieddate"] == "2026-01-01T00:00:00.000Z"

    clock.advance(90)
    updated = http.post(UPSERT, json=upsert_by_email(("ann@example.com", {"lastname": "Lee"})))
    [again] = updated.json()["results"]
    assert again["new"] is False and again["id"] == result["id"]
    assert again["properties"]["lastmodifieddate"] == "2026-01-01T00:01:30.000Z"
    assert again["properties"]["createdate"] == "2026-01-01T00:00:00.000Z"

    clock.advance(90)
    http.post(UPSERT, json=upsert_by_email(("ann@example.com", {"lastname": "Lee"})))
    contact = sandbox.contact_by_email("ann@example.com")
    assert contact is not None
    assert contact.properties["lastmodifieddate"] == "2026-01-01T00:01:30.000Z"  # no change
    assert contact.properties["firstname"] == "Ann"


def test_upsert_batch_limit_is_100(hubspot: Start) -> None:
    sandbox, http = hubspot()
    rows = [(f"c{n}@example.com", {"firstname": "C"}) for n in range(101)]
    refused = http.post(UPSERT, json=upsert_by_email(*rows))
    assert refused.status_code == 400
    assert refused.json()["category"] == "VALIDATION_ERROR"
    assert [v.kind for v in sandbox.violations] == [ViolationKind.BATCH_SIZE]
    assert sandbox.contacts == {}
    assert http.post(UPSERT, json=upsert_by_email(*rows[:100])).status_code == 200
    assert len(sandbox.contacts) == 100


def test_upsert_validation_fails_the_whole_batch(hubspot: Start) -> None:
    sandbox, http = hubspot(custom_properties={"karte_score": "number"})
    unknown = http.post(
        UPSERT,
        json=upsert_by_email(("a@example.com", {}), ("b@example.com", {"favourite": "tea"})),
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    read_only = http.post(UPSERT, json=upsert_by_email(("a@example.com", {"hs_object_id": "9"})))
    assert read_only.json()["errors"][0]["code"] == "READ_ONLY_VALUE"
    not_number = http.post(UPSERT, json=upsert_by_email(("a@example.com", {"karte_score": "x"})))
    assert not_number.status_code == 400
    duplicate = http.post(
        UPSERT, json=upsert_by_email(("a@example.com", {}), ("A@example.com", {}))
    )
    assert duplicate.status_code == 400
    assert "Duplicate IDs" in duplicate.json()["message"]
    assert sandbox.contacts == {}
    scalars = http.post(UPSERT, json=upsert_by_email(("a@example.com", {"karte_score": 7})))
    assert scalars.status_code == 200


def test_upsert_by_object_id_reports_unknown_ids_per_record(hubspot: Start) -> None:
    sandbox, http = hubspot(seed_contacts=1)
    inputs = [
        {"id": "1", "properties": {"city": "Kyoto"}},
        {"id": "999", "properties": {"city": "Osaka"}},
    ]
    response = http.post(UPSERT, json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert_hubspot(body, "BatchResponseSimplePublicUpsertObjectWithErrors")
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"] == {"ids": ["999"]}
    assert sandbox.contacts[1].properties["city"] == "Kyoto"


# --- reading ---------------------------------------------------------------------------


def test_list_contacts_pages_with_after(hubspot: Start) -> None:
    sandbox, http = hubspot(seed_contacts=25)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 10, "properties": "email,company"}
    while True:
        response = http.get(CONTACTS, params=params)
        body = response.json()
        assert_hubspot(body, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging")
        seen += [result["id"] for result in body["results"]]
        if "paging" not in body:
            break
        params["after"] = body["paging"]["next"]["after"]
    assert seen == [str(n) for n in range(1, 26)]
    assert body["results"][0]["properties"] == {"email": "contact21@example.com", "company": None}
    assert set(sandbox.counters.pages_served.values()) == {1}
    assert http.get(CONTACTS, params={"limit": 101}).status_code == 400
    assert [v.kind for v in sandbox.violations] == [ViolationKind.PAGE_SIZE]


def test_get_contact_by_id_or_email(hubspot: Start) -> None:
    _, http = hubspot(seed_contacts=2)
    by_id = http.get(f"{CONTACTS}/2")
    assert by_id.json()["properties"]["email"] == "contact2@example.com"
    by_email = http.get(f"{CONTACTS}/contact1@example.com", params={"idProperty": "email"})
    assert by_email.json()["id"] == "1"
    missing = http.get(f"{CONTACTS}/404")
    assert missing.status_code == 404
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"


# --- search ----------------------------------------------------------------------------


def test_search_by_lastmodifieddate_reads_every_change_exactly_once(
    hubspot: Start, clock: ManualClock
) -> None:
    sandbox, http = hubspot()
    sandbox.seed_contacts(25, spacing_seconds=60)  # modified 24 min ago ... now
    since = epoch_millis(sandbox.contacts[10].updated_at)
    first = http.post(SEARCH, json=modified_since(since, limit=4)).json()
    assert_hubspot(first, "CollectionResponseWithTotalSimplePublicObject")
    assert first["total"] == 16
    ids = search_all(http, modified_since(since, limit=4))
    assert ids == [str(n) for n in range(10, 26)]
    assert len(ids) == len(set(ids))

    clock.advance(60)
    checkpoint = epoch_millis(clock.now())
    http.post(UPSERT, json=upsert_by_email(("contact3@example.com", {"city": "Nara"})))
    assert search_all(http, modified_since(checkpoint)) == ["3"]
    assert sandbox.violations == []


def test_search_operators_and_sorting(hubspot: Start) -> None:
    _, http = hubspot(custom_properties={"points": "number"}, search_per_second=100)
    rows = [
        ("ann@example.com", {"firstname": "Ann", "points": "5"}),
        ("bob@example.org", {"firstname": "Bob", "points": "20", "company": "Acme"}),
        ("cy@example.com", {"firstname": "Cy", "points": "12"}),
    ]
    http.post(UPSERT, json=upsert_by_email(*rows))

    def emails(*filters: dict[str, Any], sort: str | None = None) -> list[str]:
        body: dict[str, Any] = {"filterGroups": [{"filters": list(filters)}] if filters else []}
        if sort:
            body["sorts"] = [{"propertyName": sort, "direction": "DESCENDING"}]
        results = http.post(SEARCH, json=body).json()["results"]
        return [r["properties"]["email"] for r in results]

    assert emails({"propertyName": "email", "operator": "EQ", "value": "BOB@example.org"}) == [
        "bob@example.org"
    ]
    assert emails({"propertyName": "points", "operator": "GT", "value": "10"}) == [
        "bob@example.org",
        "cy@example.com",
    ]
    assert emails({"propertyName": "points", "operator": "BETWEEN", "value": 1, "highValue": 12})
    assert emails({"propertyName": "company", "operator": "HAS_PROPERTY"}) == ["bob@example.org"]
    assert emails({"propertyName": "firstname", "operator": "IN", "values": ["ann", "cy"]}) == [
        "ann@example.com",
        "cy@example.com",
    ]
    assert emails({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*.org"}) == [
        "bob@example.org"
    ]
    assert emails(sort="points") == ["bob@example.org", "cy@example.com", "ann@example.com"]
    query = http.post(SEARCH, json={"query": "cy"}).json()
    assert [r["id"] for r in query["results"]] == ["3"]


def test_search_limits(hubspot: Start) -> None:
    sandbox, http = hubspot(seed_contacts=25, search_result_cap=10, search_per_second=100)
    assert http.post(SEARCH, json={"limit": 201}).status_code == 400
    pages = [http.post(SEARCH, json={"limit": 5, "after": str(a)}) for a in (0, 5, 10)]
    assert [p.status_code for p in pages] == [200, 200, 400]
    assert pages[1].json()["total"] == 25
    assert pages[1].json()["paging"]["next"]["after"] == "10"
    group = {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}
    assert http.post(SEARCH, json={"filterGroups": [group]}).status_code == 400
    two_sorts = {"sorts": [{"propertyName": "email"}, {"propertyName": "createdate"}]}
    assert http.post(SEARCH, json=two_sorts).status_code == 400
    bad_value = modified_since(0)
    bad_value["filterGroups"][0]["filters"][0]["value"] = "last tuesday"
    assert http.post(SEARCH, json=bad_value).status_code == 400
    assert [v.kind for v in sandbox.violations] == [
        ViolationKind.PAGE_SIZE,
        ViolationKind.RESULT_CAP,
        ViolationKind.LIST_SIZE,
    ]


# --- rate limits -----------------------------------------------------------------------


def test_ten_secondly_rolling_limit(hubspot: Start, clock: ManualClock) -> None:
    sandbox, http = hubspot(ten_second_limit=3)
    responses = [http.get(CONTACTS) for _ in range(3)]
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
    assert responses[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert responses[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert responses[0].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249999"
    clock.advance(4)
    refused = http.get(CONTACTS)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "6"
    body = refused.json()
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert_hubspot(body, "Error", "send-event-completions-v3.json")
    assert [v.kind for v in sandbox.violations] == [ViolationKind.RATE_LIMIT]
    clock.advance(6)
    assert http.get(CONTACTS).status_code == 200


def test_search_has_its_own_per_second_limit_and_no_rate_headers(
    hubspot: Start, clock: ManualClock
) -> None:
    sandbox, http = hubspot(ten_second_limit=2)
    searches = [http.post(SEARCH, json={}) for _ in range(5)]
    assert all(r.status_code == 200 for r in searches)
    assert "X-HubSpot-RateLimit-Remaining" not in searches[0].headers
    refused = http.post(SEARCH, json={})
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "SECONDLY"
    assert http.get(CONTACTS).status_code == 200  # searches did not use the 10 s window
    clock.advance(1)
    assert http.post(SEARCH, json={}).status_code == 200
    assert [v.kind for v in sandbox.violations] == [ViolationKind.SECONDLY_LIMIT]


def test_daily_limit_resets_at_midnight_in_the_account_time_zone(
    hubspot: Start, clock: ManualClock
) -> None:
    # 2026-01-01T00:00Z is 19:00 on Dec 31 in New York.
    sandbox, http = hubspot(daily_limit=2, daily_timezone="America/New_York")
    assert http.get(CONTACTS).status_code == 200
    assert http.get(CONTACTS).headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    refused = http.get(CONTACTS)
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"
    assert refused.headers["Retry-After"] == str(5 * 3600)
    clock.set(datetime(2026, 1, 1, 5, tzinfo=UTC))
    assert http.get(CONTACTS).status_code == 200
    assert [v.kind for v in sandbox.violations] == [ViolationKind.DAILY_QUOTA]


def test_tier_presets() -> None:
    professional = HubSpotSandboxConfig.for_tier("professional", daily_timezone="Asia/Tokyo")
    assert (professional.ten_second_limit, professional.daily_limit) == (190, 625_000)
    assert professional.daily_timezone == "Asia/Tokyo"
    assert HubSpotSandboxConfig().ten_second_limit == 100


# --- custom events ---------------------------------------------------------------------


def test_send_custom_events(hubspot: Start, clock: ManualClock) -> None:
    sandbox, http = hubspot(ten_second_limit=1, daily_limit=1)
    event = {
        "eventName": "pe1234567_study_mode_selected",
        "email": "ann@example.com",
        "properties": {"mode": "flashcards", "count": 3},
        "uuid": "u-1",
    }
    for _ in range(3):  # exempt from both rate limits; a repeated uuid is kept once
        assert http.post(SEND, json=event).status_code == 204
    [stored] = sandbox.events
    assert stored.properties == {"mode": "flashcards", "count": "3"}
    assert stored.occurred_at == clock.now()
    assert sandbox.state.duplicate_events == 2
    assert sandbox.violations == []
    no_identity = {"eventName": "pe1234567_x", "properties": {}}
    assert http.post(SEND, json=no_identity).status_code == 400
    assert http.post(SEND, json={"email": "a@example.com"}).status_code == 400


def test_send_event_batch_limit(hubspot: Start) -> None:
    sandbox, http = hubspot(event_batch_limit=2)
    item = {"eventName": "pe1_x", "objectId": "1", "properties": {}}
    assert http.post(f"{SEND}/batch", json={"inputs": [item, item]}).status_code == 204
    assert http.post(f"{SEND}/batch", json={"inputs": [item] * 3}).status_code == 400
    assert len(sandbox.events) == 2
    assert [v.kind for v in sandbox.violations] == [ViolationKind.BATCH_SIZE]


def test_unknown_event_names_are_refused_when_definitions_are_configured(
    hubspot: Start,
) -> None:
    _, http = hubspot(event_names=("pe1_known",))
    known = {"eventName": "pe1_known", "utk": "abc", "properties": {}}
    assert http.post(SEND, json=known).status_code == 204
    assert http.post(SEND, json={**known, "eventName": "pe1_other"}).status_code == 400


# --- faults and routing ----------------------------------------------------------------


def test_injected_faults_then_recovery(hubspot: Start) -> None:
    sandbox, http = hubspot()
    sandbox.fail_next(2, status=503, path=CONTACTS)
    assert [http.get(CONTACTS).status_code for _ in range(3)] == [503, 503, 200]
    sandbox.fail_next(1, status=429)
    limited = http.post(SEARCH, json={})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert sandbox.violations == []  # injected, not earned
    assert sandbox.daily_used == 1


def test_unknown_routes_and_methods(hubspot: Start) -> None:
    sandbox, http = hubspot()
    assert http.get("/crm/v3/objects/deals").status_code == 404
    assert http.delete(UPSERT).status_code == 405
    bad_json = http.post(UPSERT, content=b"{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert sandbox.counters.calls["POST /crm/v3/objects/contacts/batch/upsert"] == 1
