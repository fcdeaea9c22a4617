"""The Marketo sandbox through real HTTP on loopback, time moved by a ManualClock."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.sandbox import MarketoSandbox, ViolationKind
from renkei.sandbox.marketo import LeadField

from .conftest import MarketoApi
from .spec import assert_marketo, assert_marketo_identity

Start = Callable[..., tuple[MarketoSandbox, MarketoApi]]
LEADS = "/rest/v1/leads.json"
ACTIVITIES = "/rest/v1/activities.json"
EXTERNAL = "/rest/v1/activities/external.json"
DESCRIBE = "/rest/v1/leads/describe.json"


def error_codes(body: dict[str, Any]) -> list[str]:
    assert body["success"] is False
    return [error["code"] for error in body["errors"]]


def paging_token(api: MarketoApi, since: datetime) -> str:
    body = api.get("/rest/v1/activities/pagingtoken.json", sinceDatetime=since.isoformat())
    assert_marketo(body, "ResponseOfVoid")
    return str(body["nextPageToken"])


# --- identity and access tokens --------------------------------------------------------


def test_identity_answers_a_bearer_token_in_the_documented_shape(marketo: Start) -> None:
    sandbox, api = marketo()
    response = api.identity()
    body = response.json()
    assert_marketo_identity(body)
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == sandbox.config.scope
    assert sandbox.counters.tokens_issued == 1


def test_identity_rejects_bad_credentials_like_marketo(marketo: Start) -> None:
    _, api = marketo()
    bad = api.identity(client_secret="wrong")
    assert bad.status_code == 401
    assert bad.json() == {"error": "unauthorized", "error_description": "Bad client credentials"}
    assert api.identity(grant_type="password").status_code == 400


def test_identity_by_post_with_query_parameters(marketo: Start) -> None:
    sandbox, api = marketo()
    config = sandbox.config
    params = {
        "grant_type": "client_credentials",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }
    response = api.http.post("/identity/oauth/token", params=params)
    assert response.status_code == 200
    assert response.json()["access_token"]


def test_a_valid_token_is_handed_back_with_its_remaining_life(
    marketo: Start, clock: ManualClock
) -> None:
    sandbox, api = marketo()
    first = api.identity().json()
    clock.advance(600)
    again = api.identity().json()
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == 3000
    assert sandbox.counters.tokens_issued == 1


def test_an_expired_token_answers_602_and_a_new_one_is_issued(
    marketo: Start, clock: ManualClock
) -> None:
    sandbox, api = marketo(token_lifetime_seconds=60)
    token = api.token()
    clock.advance(59)
    assert api.get(DESCRIBE, token=token)["success"] is True
    clock.advance(1)
    assert error_codes(api.get(DESCRIBE, token=token)) == ["602"]
    fresh = api.token()
    assert fresh != token
    assert api.get(DESCRIBE, token=fresh)["success"] is True
    assert sandbox.counters.tokens_issued == 2


def test_missing_and_unknown_tokens(marketo: Start) -> None:
    _, api = marketo()
    assert error_codes(api.http.get(DESCRIBE).json()) == ["600"]
    assert error_codes(api.get(DESCRIBE, token="not-a-token")) == ["601"]


def test_the_deprecated_access_token_query_parameter_when_enabled(marketo: Start) -> None:
    _, api = marketo(allow_query_token=True)
    token = api.token()
    assert api.http.get(DESCRIBE, params={"access_token": token}).json()["success"] is True


def test_the_query_parameter_is_refused_by_default(marketo: Start) -> None:
    _, api = marketo()
    token = api.token()
    assert error_codes(api.http.get(DESCRIBE, params={"access_token": token}).json()) == ["600"]


# --- limits ----------------------------------------------------------------------------


def test_rate_limit_window_answers_606_and_is_recorded(marketo: Start, clock: ManualClock) -> None:
    sandbox, api = marketo(rate_limit_calls=3, rate_limit_window_seconds=20)
    for _ in range(3):
        assert api.get(DESCRIBE)["success"] is True
    refused = api.get(DESCRIBE)
    assert refused["errors"] == [
        {"code": "606", "message": "Max rate limit '3' exceeded with in '20' secs"}
    ]
    clock.advance(19.5)
    assert error_codes(api.get(DESCRIBE)) == ["606"]
    assert [v.kind for v in sandbox.violations] == [ViolationKind.RATE_LIMIT] * 2
    assert sandbox.violations[0].endpoint == "GET /rest/v1/leads/describe.json"
    clock.advance(0.5)
    # Refused calls did not count: a whole new window is available.
    for _ in range(3):
        assert api.get(DESCRIBE)["success"] is True


def test_concurrent_access_limit_answers_615(marketo: Start) -> None:
    sandbox, api = marketo(max_concurrent=2)
    token = api.token()
    with ThreadPoolExecutor(2) as pool:
        with sandbox.hold() as gate:
            held = [pool.submit(api.get, DESCRIBE, token) for _ in range(2)]
            assert gate.wait_for_waiters(2)
            assert sandbox.in_flight == 2
            assert error_codes(api.get(DESCRIBE, token=token)) == ["615"]
        assert all(future.result()["success"] for future in held)
    assert [v.kind for v in sandbox.violations] == [ViolationKind.CONCURRENCY]
    assert sandbox.in_flight == 0


def test_daily_quota_answers_607_until_midnight_in_chicago(
    marketo: Start, clock: ManualClock
) -> None:
    # 2026-01-01T00:00Z is 18:00 on Dec 31 in Chicago (CST, UTC-6).
    sandbox, api = marketo(daily_quota=2)
    assert api.get(DESCRIBE)["success"] and api.get(DESCRIBE)["success"]
    assert error_codes(api.get(DESCRIBE)) == ["607"]
    clock.set(datetime(2026, 1, 1, 5, 59, 59, tzinfo=UTC))
    assert error_codes(api.get(DESCRIBE)) == ["607"]
    clock.set(datetime(2026, 1, 1, 6, 0, tzinfo=UTC))
    assert api.get(DESCRIBE)["success"] is True
    assert sandbox.quota_used == 1
    assert [v.kind for v in sandbox.violations] == [ViolationKind.DAILY_QUOTA] * 2


def test_identity_and_failed_calls_do_not_use_the_quota(marketo: Start) -> None:
    sandbox, api = marketo()
    api.token()
    api.get(DESCRIBE, token="bad")
    api.get(LEADS, filterType="nope", filterValues="x")
    assert sandbox.quota_used == 0
    api.get(DESCRIBE)
    assert sandbox.quota_used == 1


def test_a_client_within_limits_leaves_no_violations(marketo: Start) -> None:
    sandbox, api = marketo(seed_leads=5)
    api.get(LEADS, filterType="email", filterValues="lead1@example.com")
    api.post(LEADS, {"input": [{"email": "x@example.com"}]})
    assert sandbox.violations == []


# --- sync leads ------------------------------------------------------------------------


def test_sync_leads_results_per_record(marketo: Start) -> None:
    sandbox, api = marketo()
    created = api.post(LEADS, {"action": "createOnly", "input": [{"email": "a@example.com"}]})
    assert_marketo(created, "ResponseOfLead")
    assert created["result"] == [{"id": 1, "status": "created"}]
    body = api.post(
        LEADS,
        {
            "action": "createOnly",
            "lookupField": "email",
            "input": [
                {"email": "a@example.com"},
                {"email": "b@example.com", "unknownField": "x"},
                {"email": "c@example.com", "leadScore": "high"},
                {"id": 1, "email": "d@example.com"},
                {"email": "e@example.com", "firstName": "Eve"},
            ],
        },
    )
    assert body["success"] is True
    statuses = [(r["status"], [x["code"] for x in r.get("reasons", [])]) for r in body["result"]]
    assert statuses == [
        ("skipped", ["1005"]),
        ("skipped", ["1006"]),
        ("skipped", ["1001"]),
        ("skipped", ["1003"]),
        ("created", []),
    ]
    assert body["result"][1]["reasons"][0]["message"] == "Field 'unknownField' not found"
    assert sorted(lead.values["email"] for lead in sandbox.leads.values()) == [
        "a@example.com",
        "e@example.com",
    ]


def test_update_only_and_create_or_update(marketo: Start) -> None:
    sandbox, api = marketo()
    api.post(LEADS, {"input": [{"email": "a@example.com", "firstName": "Ann"}]})
    body = api.post(
        LEADS,
        {
            "action": "updateOnly",
            "input": [{"email": "A@example.com", "firstName": "Anna"}, {"email": "z@x.com"}],
        },
    )
    assert body["result"][0] == {"id": 1, "status": "updated"}
    assert body["result"][1]["reasons"][0]["code"] == "1004"
    by_id = api.post(
        LEADS, {"action": "updateOnly", "lookupField": "id", "input": [{"id": 1, "city": "Oslo"}]}
    )
    assert by_id["result"] == [{"id": 1, "status": "updated"}]
    upsert = api.post(LEADS, {"input": [{"email": "a@example.com"}, {"email": "b@example.com"}]})
    assert [r["status"] for r in upsert["result"]] == ["updated", "created"]
    lead = sandbox.lead_by_email("a@example.com")
    assert lead is not None and lead.values == {
        "email": "a@example.com",
        "firstName": "Anna",
        "city": "Oslo",
    }


def test_create_duplicate_ignores_existing_leads(marketo: Start) -> None:
    sandbox, api = marketo()
    for _ in range(2):
        api.post(LEADS, {"action": "createDuplicate", "input": [{"email": "d@example.com"}]})
    assert len(sandbox.leads) == 2
    body = api.post(LEADS, {"action": "updateOnly", "input": [{"email": "d@example.com"}]})
    assert body["result"][0]["reasons"][0]["code"] == "1007"


def test_sync_leads_batch_limit(marketo: Start) -> None:
    sandbox, api = marketo()
    records = [{"email": f"l{n}@example.com"} for n in range(301)]
    assert error_codes(api.post(LEADS, {"input": records})) == ["1003"]
    assert [v.kind for v in sandbox.violations] == [ViolationKind.BATCH_SIZE]
    assert sandbox.leads == {}
    assert api.post(LEADS, {"input": records[:300]})["success"] is True


def test_sync_leads_request_errors(marketo: Start) -> None:
    _, api = marketo()
    headers = {"Authorization": f"Bearer {api.token()}"}
    assert error_codes(api.post(LEADS, {"input": []})) == ["701"]
    assert error_codes(api.post(LEADS, {"action": "merge", "input": [{}]})) == ["1003"]
    assert error_codes(api.post(LEADS, {"lookupField": "firstName", "input": [{}]})) == ["1011"]
    not_json = api.http.post(LEADS, content=b"{oops", headers=headers)
    assert error_codes(not_json.json()) == ["612"]
    bad_json = api.http.post(
        LEADS, content=b"{oops", headers={**headers, "Content-Type": "application/json"}
    )
    assert error_codes(bad_json.json()) == ["609"]


def test_custom_fields_and_type_conversion(marketo: Start) -> None:
    sandbox, api = marketo(
        custom_fields=(
            LeadField("karteUserId", "string"),
            LeadField("lastSeenAt", "datetime"),
            LeadField("isVip", "boolean"),
        )
    )
    body = api.post(
        LEADS,
        {
            "input": [
                {
                    "email": "v@example.com",
                    "karteUserId": "u-1",
                    "lastSeenAt": "2025-06-01T12:00:00+09:00",
                    "isVip": "true",
                    "dateOfBirth": "1990-02-03",
                }
            ]
        },
    )
    assert body["result"][0]["status"] == "created"
    lead = sandbox.lead_by_email("v@example.com")
    assert lead is not None
    assert lead.values["lastSeenAt"] == "2025-06-01T03:00:00Z"
    assert lead.values["isVip"] is True
    found = api.get(LEADS, filterType="karteUserId", filterValues="u-1", fields="email,isVip")
    assert found["result"] == [{"id": lead.id, "email": "v@example.com", "isVip": True}]


# --- reading leads ---------------------------------------------------------------------


def test_get_leads_by_filter_type_with_default_fields(marketo: Start) -> None:
    _, api = marketo(seed_leads=3)
    body = api.get(LEADS, filterType="email", filterValues="LEAD1@example.com,lead3@example.com")
    assert_marketo(body, "ResponseOfLead")
    assert [lead["id"] for lead in body["result"]] == [1, 3]
    assert set(body["result"][0]) == {
        "id",
        "email",
        "updatedAt",
        "createdAt",
        "firstName",
        "lastName",
    }
    assert "moreResult" not in body
    empty = api.get(LEADS, filterType="email", filterValues="nobody@example.com")
    assert empty["result"] == []
    one = api.get("/rest/v1/lead/2.json", fields="email")
    assert one["result"] == [{"id": 2, "email": "lead2@example.com"}]


def test_get_leads_pages_with_next_page_token(marketo: Start) -> None:
    sandbox, api = marketo(seed_leads=10)
    ids = ",".join(str(n) for n in range(1, 11))
    seen: list[int] = []
    params: dict[str, Any] = {"filterType": "id", "filterValues": ids, "batchSize": 3}
    while True:
        body = api.get(LEADS, **params)
        seen += [lead["id"] for lead in body["result"]]
        if not body.get("moreResult"):
            break
        params["nextPageToken"] = body["nextPageToken"]
    assert seen == list(range(1, 11))
    assert len(sandbox.counters.pages_served) == 3
    assert set(sandbox.counters.pages_served.values()) == {1}


def test_get_leads_limits(marketo: Start) -> None:
    sandbox, api = marketo(seed_leads=3, filter_match_limit=2)
    too_many_values = ",".join(f"v{n}@example.com" for n in range(301))
    assert error_codes(api.get(LEADS, filterType="email", filterValues=too_many_values)) == ["1003"]
    everyone = "lead1@example.com,lead2@example.com,lead3@example.com"
    refused = api.get(LEADS, filterType="email", filterValues=everyone)
    assert refused["errors"][0]["message"] == "Too many results match the filter"
    assert error_codes(api.get(LEADS, filterType="id", filterValues="1", batchSize=301)) == ["1003"]
    assert [v.kind for v in sandbox.violations] == [
        ViolationKind.LIST_SIZE,
        ViolationKind.RESULT_CAP,
        ViolationKind.PAGE_SIZE,
    ]


def test_get_leads_parameter_errors(marketo: Start) -> None:
    _, api = marketo()
    assert error_codes(api.get(LEADS, filterValues="x")) == ["701"]
    assert error_codes(api.get(LEADS, filterType="nope", filterValues="x")) == ["1006"]
    assert error_codes(api.get(LEADS, filterType="lastName", filterValues="x")) == ["1011"]
    assert error_codes(api.get(LEADS, filterType="id", filterValues="abc")) == ["1001"]
    assert error_codes(api.get(LEADS, filterType="cookies", filterValues="junk")) == ["1012"]


def test_long_queries_go_by_post_with_method_get(marketo: Start) -> None:
    _, api = marketo(seed_leads=2, max_uri_bytes=200)
    headers = {"Authorization": f"Bearer {api.token()}"}
    values = ",".join(["lead1@example.com"] + [f"someone{n}@example.com" for n in range(20)])
    too_long = api.http.get(LEADS, params={"filterType": "email", "filterValues": values})
    assert too_long.status_code == 414
    as_post = api.http.post(
        LEADS,
        params={"_method": "GET"},
        content=f"filterType=email&filterValues={values}".encode(),
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert [lead["id"] for lead in as_post.json()["result"]] == [1]


def test_oversized_body_answers_413(marketo: Start) -> None:
    _, api = marketo(max_body_bytes=1000)
    headers = {"Authorization": f"Bearer {api.token()}"}
    response = api.http.post(LEADS, json={"input": [{"email": "x" * 2000}]}, headers=headers)
    assert response.status_code == 413


def test_describe_lead_lists_standard_and_custom_fields(marketo: Start) -> None:
    _, api = marketo(custom_fields=(LeadField("karteUserId", "string", "KARTE User"),))
    described = api.get(DESCRIBE)
    assert_marketo(described, "ResponseOfLeadAttribute")
    names = [field["rest"]["name"] for field in described["result"]]
    assert {"email", "firstName", "karteUserId"} <= set(names)
    described2 = api.get("/rest/v1/leads/describe2.json")
    assert_marketo(described2, "ResponseOfLeadAttribute2")
    assert ["karteUserId"] in described2["result"][0]["searchableFields"]


# --- activities ------------------------------------------------------------------------


def test_activities_page_through_every_record_exactly_once(
    marketo: Start, clock: ManualClock
) -> None:
    sandbox, api = marketo(seed_leads=10, seed_activities=1000)
    token = paging_token(api, clock.now() - timedelta(days=1))
    seen: list[int] = []
    pages = 0
    while True:
        body = api.get(ACTIVITIES, nextPageToken=token, activityTypeIds="1")
        assert_marketo(body, "ResponseOfActivity")
        seen += [activity["id"] for activity in body["result"]]
        pages += 1
        token = body["nextPageToken"]
        if not body["moreResult"]:
            break
    assert pages == 4
    assert sorted(seen) == [a.id for a in sandbox.activities]
    assert len(seen) == len(set(seen)) == 1000
    assert set(sandbox.counters.pages_served.values()) == {1}
    # Polling again from the last token finds only what happened since.
    empty = api.get(ACTIVITIES, nextPageToken=token, activityTypeIds="1")
    assert empty["result"] == [] and empty["moreResult"] is False
    sandbox.seed_activities(1, start=clock.now())
    later = api.get(ACTIVITIES, nextPageToken=token, activityTypeIds="1")
    assert [a["id"] for a in later["result"]] == [1001]
    assert sandbox.violations == []


def test_activities_since_a_date_and_filters(marketo: Start, clock: ManualClock) -> None:
    sandbox, api = marketo(seed_leads=2, seed_activities=10)
    middle = sandbox.activities[5].activity_date
    token = paging_token(api, middle)
    body = api.get(ACTIVITIES, nextPageToken=token, activityTypeIds="1", batchSize=100)
    assert [a["id"] for a in body["result"]] == [6, 7, 8, 9, 10]
    one_lead = api.get(ACTIVITIES, nextPageToken=token, activityTypeIds="1", leadIds="2")
    assert {a["leadId"] for a in one_lead["result"]} == {2}


def test_activities_parameter_limits(marketo: Start, clock: ManualClock) -> None:
    sandbox, api = marketo()
    token = paging_token(api, clock.now())
    eleven = ",".join(["1"] * 11)
    assert error_codes(api.get(ACTIVITIES, nextPageToken=token, activityTypeIds=eleven)) == ["1003"]
    leads = ",".join(str(n) for n in range(31))
    assert error_codes(
        api.get(ACTIVITIES, nextPageToken=token, activityTypeIds="1", leadIds=leads)
    ) == ["1003"]
    assert [v.kind for v in sandbox.violations] == [ViolationKind.LIST_SIZE] * 2
    assert error_codes(api.get(ACTIVITIES, nextPageToken=token)) == ["701"]
    assert error_codes(api.get(ACTIVITIES, nextPageToken="garbage", activityTypeIds="1")) == [
        "1003"
    ]
    assert error_codes(
        api.get("/rest/v1/activities/pagingtoken.json", sinceDatetime="yesterday")
    ) == ["1001"]


def test_lead_changes_report_new_leads_and_data_value_changes(
    marketo: Start, clock: ManualClock
) -> None:
    _, api = marketo()
    token = paging_token(api, clock.now())
    api.post(LEADS, {"input": [{"email": "c@example.com", "firstName": "Cy"}]})
    clock.advance(5)
    api.post(LEADS, {"input": [{"email": "c@example.com", "firstName": "Cyd", "city": "Rome"}]})
    body = api.get("/rest/v1/activities/leadchanges.json", nextPageToken=token, fields="firstName")
    assert_marketo(body, "ResponseOfLeadChange")
    assert [a["activityTypeId"] for a in body["result"]] == [12, 13]
    change = body["result"][1]
    assert change["fields"] == [{"id": 4, "name": "firstName", "newValue": "Cyd", "oldValue": "Cy"}]
    assert change["activityDate"] == "2026-01-01T00:00:05Z"
    both = api.get(
        "/rest/v1/activities/leadchanges.json", nextPageToken=token, fields="firstName,city"
    )
    assert len(both["result"]) == 3
    assert error_codes(api.get("/rest/v1/activities/leadchanges.json", nextPageToken=token)) == [
        "701"
    ]


def test_activity_types_include_custom_types(marketo: Start) -> None:
    _, api = marketo()
    types = api.get("/rest/v1/activities/types.json")
    assert_marketo(types, "ResponseOfActivityType")
    assert {1, 12, 13, 100001} <= {t["id"] for t in types["result"]}
    custom = api.get("/rest/v1/activities/external/types.json")
    assert_marketo(custom, "ResponseOfCustomActivityType")
    assert [(t["apiName"], t["status"]) for t in custom["result"]] == [("renkeiEvent", "approved")]


# --- custom activities -----------------------------------------------------------------


def custom_activity(lead_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "leadId": lead_id,
        "activityDate": "2026-01-01T09:00:00+09:00",
        "activityTypeId": 100001,
        "primaryAttributeValue": "purchase",
        "attributes": [{"apiName": "eventId", "value": "evt_1"}],
        **overrides,
    }


def test_add_custom_activities_per_record_status(marketo: Start, clock: ManualClock) -> None:
    sandbox, api = marketo(seed_leads=1)
    body = api.post(
        EXTERNAL,
        {
            "input": [
                custom_activity(1),
                custom_activity(99),
                custom_activity(1, attributes=[{"name": "Colour", "value": "red"}]),
                custom_activity(1, primaryAttributeValue=None),
                custom_activity(1, activityTypeId=1),
                custom_activity(1, activityDate="soon"),
            ]
        },
    )
    # The spec reuses its request schema (CustomActivity) for these results, while the
    # docs show id, marketoGUID and status only; the envelope is what can be checked.
    assert_marketo(body, "ResponseOfVoid")
    assert body["result"][0] == {"id": 1, "marketoGUID": "1", "status": "added"}
    codes = [r["errors"][0]["code"] for r in body["result"][1:]]
    assert codes == ["1004", "1006", "1002", "1003", "1001"]
    assert all(r["status"] == "skipped" for r in body["result"][1:])
    [stored] = sandbox.custom_activities
    assert stored.activity_date == datetime(2026, 1, 1, tzinfo=UTC)
    assert stored.attributes == [{"name": "Event Id", "apiName": "eventId", "value": "evt_1"}]
    token = paging_token(api, clock.now() - timedelta(hours=1))
    read = api.get(ACTIVITIES, nextPageToken=token, activityTypeIds="100001")
    assert read["result"][0]["primaryAttributeValue"] == "purchase"


def test_add_custom_activities_batch_limit(marketo: Start) -> None:
    sandbox, api = marketo(seed_leads=1, batch_limit=3)
    assert error_codes(api.post(EXTERNAL, {"input": [custom_activity(1)] * 4})) == ["1003"]
    assert [v.kind for v in sandbox.violations] == [ViolationKind.BATCH_SIZE]
    assert sandbox.custom_activities == []


# --- routing and faults ----------------------------------------------------------------


def test_unknown_resource_and_wrong_method(marketo: Start) -> None:
    sandbox, api = marketo()
    assert error_codes(api.get("/rest/v1/nothing.json")) == ["610"]
    assert error_codes(api.get(EXTERNAL)) == ["605"]
    assert sandbox.counters.calls["GET /rest/v1/activities/external.json"] == 1


def test_injected_response_level_faults_then_recovery(marketo: Start) -> None:
    sandbox, api = marketo()
    sandbox.fail_next(2, code="604")
    first, second = api.get(DESCRIBE), api.get(DESCRIBE)
    assert first["errors"] == [{"code": "604", "message": "Request time-out"}]
    assert error_codes(second) == ["604"]
    assert api.get(DESCRIBE)["success"] is True
    assert sandbox.counters.calls["GET /rest/v1/leads/describe.json"] == 3
    assert sandbox.quota_used == 1
    assert sandbox.faults.pending == 0


def test_injected_http_faults_match_path_and_method(marketo: Start) -> None:
    sandbox, api = marketo()
    sandbox.fail_next_http(1, status=502, path=LEADS, method="POST")
    headers = {"Authorization": f"Bearer {api.token()}"}
    assert api.http.get(DESCRIBE, headers=headers).status_code == 200
    assert api.http.post(LEADS, json={"input": [{}]}, headers=headers).status_code == 502
    assert api.http.post(LEADS, json={"input": [{}]}, headers=headers).status_code == 200


def test_faults_can_target_identity(marketo: Start) -> None:
    sandbox, api = marketo()
    sandbox.fail_next_http(1, status=503, path="/identity")
    assert api.identity().status_code == 503
    assert api.identity().status_code == 200


@pytest.mark.parametrize("count", [0, 5])
def test_seeding(marketo: Start, count: int) -> None:
    sandbox, _ = marketo(seed_leads=count)
    assert len(sandbox.leads) == count
    activities = sandbox.seed_activities(3)
    assert len(activities) == 3
    assert len(sandbox.leads) == max(count, 1)


# --- Munchkin cookies (issue 19) -------------------------------------------------------

COOKIE = "id:123-ABC-456&token:_mch-example.com-1700000000000-12345"


def test_associate_lead_gives_the_cookie_to_the_lead_and_filter_type_cookies_finds_it(
    marketo: Start,
) -> None:
    from urllib.parse import quote

    sandbox, api = marketo()
    api.post(LEADS, {"input": [{"email": "a@example.com"}, {"email": "b@example.com"}]})
    assert api.get(LEADS, filterType="cookies", filterValues=COOKIE)["result"] == []
    associated = api.post(f"/rest/v1/leads/2/associate.json?cookie={quote(COOKIE)}", None)
    assert_marketo(associated, "ResponseWithoutResult")
    assert associated["success"] is True
    found = api.get(LEADS, filterType="cookies", filterValues=COOKIE, fields="id,email")
    assert found["result"] == [{"id": 2, "email": "b@example.com"}]
    # A cookie belongs to one lead: associating it again moves it.
    api.post(f"/rest/v1/leads/1/associate.json?cookie={quote(COOKIE)}", None)
    assert api.get(LEADS, filterType="cookies", filterValues=COOKIE)["result"][0]["id"] == 1
    assert sandbox.violations == []


def test_associate_lead_refuses_an_unknown_lead_and_a_value_that_is_no_cookie(
    marketo: Start,
) -> None:
    from urllib.parse import quote

    _, api = marketo()
    api.post(LEADS, {"input": [{"email": "a@example.com"}]})
    missing = api.post(f"/rest/v1/leads/99/associate.json?cookie={quote(COOKIE)}", None)
    assert error_codes(missing) == ["1004"]
    not_a_cookie = api.post("/rest/v1/leads/1/associate.json?cookie=abc", None)
    assert error_codes(not_a_cookie) == ["1012"]
    no_cookie = api.post("/rest/v1/leads/1/associate.json", None)
    assert error_codes(no_cookie) == ["701"]
