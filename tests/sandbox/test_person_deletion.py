"""The sandboxes' deletion endpoints answer as the vendors document, refusals included, and
really remove the record (issue 20)."""

from __future__ import annotations

import base64

import httpx

from renkei.sandbox import create_sandbox, serve_in_thread
from renkei.sandbox.braze import DEFAULT_API_KEY as BRAZE_KEY
from renkei.sandbox.hubspot import DEFAULT_TOKEN
from renkei.sandbox.klaviyo.state import DEFAULT_API_KEY as KLAVIYO_KEY
from renkei.sandbox.mailchimp.state import DEFAULT_API_KEY as MAILCHIMP_KEY
from renkei.sandbox.mailchimp.state import subscriber_hash


def test_marketo_delete_leads_deletes_or_skips_with_1004() -> None:
    sandbox = create_sandbox("marketo")
    lead = sandbox.state.create_lead({"email": "gone@example.com"})
    sandbox.state.add_activity(lead.id, 1)
    with serve_in_thread(sandbox.app) as base_url, httpx.Client(base_url=base_url) as http:
        token = http.get(
            "/identity/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": sandbox.config.client_id,
                "client_secret": sandbox.config.client_secret,
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        answer = http.post(
            "/rest/v1/leads/delete.json",
            json={"input": [{"id": lead.id}, {"id": 999}]},
            headers=headers,
        ).json()
        by_query = http.post(f"/rest/v1/leads/delete.json?id={lead.id}", headers=headers).json()
        empty = http.post("/rest/v1/leads/delete.json", json={"input": []}, headers=headers).json()
    assert answer["success"] is True
    assert answer["result"][0] == {"id": lead.id, "status": "deleted"}
    assert answer["result"][1]["status"] == "skipped"
    assert answer["result"][1]["reasons"][0]["code"] == "1004"
    assert by_query["result"][0]["reasons"][0]["code"] == "1004"  # deleted already
    assert empty["success"] is False
    assert lead.id not in sandbox.state.leads
    assert all(a.lead_id != lead.id for a in sandbox.state.activities)


def test_hubspot_gdpr_delete_purges_or_answers_404() -> None:
    sandbox = create_sandbox("hubspot")
    sandbox.state.create({"email": "gone@example.com"})
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    with (
        serve_in_thread(sandbox.app) as base_url,
        httpx.Client(base_url=base_url, headers=headers) as http,
    ):
        path = "/crm/v3/objects/contacts/gdpr-delete"
        deleted = http.post(path, json={"objectId": "GONE@example.com", "idProperty": "email"})
        again = http.post(path, json={"objectId": "gone@example.com", "idProperty": "email"})
        bad = http.post(path, json={"idProperty": "email"})
    assert deleted.status_code == 204 and deleted.content == b""
    assert again.status_code == 404
    assert bad.status_code == 400
    assert sandbox.state.contacts == {} and sandbox.state.gdpr_deleted == 1


def test_braze_users_delete_takes_one_kind_of_identifier() -> None:
    sandbox = create_sandbox("braze")
    sandbox._apply("attributes", {"external_id": "u-1", "email": "one@example.com"})
    sandbox._apply("attributes", {"email": "two@example.com"})
    headers = {"Authorization": f"Bearer {BRAZE_KEY}"}
    with (
        serve_in_thread(sandbox.app) as base_url,
        httpx.Client(base_url=base_url, headers=headers) as http,
    ):
        two_kinds = http.post(
            "/users/delete", json={"external_ids": ["u-1"], "email_addresses": ["x@y.z"]}
        )
        too_many = http.post("/users/delete", json={"external_ids": [str(n) for n in range(51)]})
        by_id = http.post("/users/delete", json={"external_ids": ["u-1", "u-404"]})
        by_email = http.post("/users/delete", json={"email_addresses": ["TWO@example.com"]})
        unauthorized = http.post(
            "/users/delete", json={"external_ids": ["u-1"]}, headers={"Authorization": "Bearer x"}
        )
    assert two_kinds.status_code == 400 and too_many.status_code == 400
    assert by_id.status_code == 201 and by_id.json() == {"deleted": 1, "message": "success"}
    assert by_email.json()["deleted"] == 1
    assert unauthorized.status_code == 401
    assert sandbox.users == {}


def test_klaviyo_deletion_job_takes_exactly_one_identifier() -> None:
    sandbox = create_sandbox("klaviyo")
    sandbox.state.upsert({"attributes": {"email": "gone@example.com"}})
    headers = {
        "Authorization": f"Klaviyo-API-Key {KLAVIYO_KEY}",
        "revision": "2026-07-15",
        "Content-Type": "application/vnd.api+json",
    }

    def job(attributes: dict[str, str]) -> dict[str, object]:
        profile = {"type": "profile", "attributes": attributes}
        return {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {"profile": {"data": profile}},
            }
        }

    with (
        serve_in_thread(sandbox.app) as base_url,
        httpx.Client(base_url=base_url, headers=headers) as http,
    ):
        two = http.post(
            "/api/data-privacy-deletion-jobs",
            json=job({"email": "gone@example.com", "phone_number": "+15005550006"}),
        )
        accepted = http.post(
            "/api/data-privacy-deletion-jobs", json=job({"email": "GONE@example.com"})
        )
    assert two.status_code == 400
    assert accepted.status_code == 202 and accepted.content == b""
    assert sandbox.state.profiles == {} and sandbox.state.deletion_jobs == 1


def test_mailchimp_delete_permanent_removes_the_member_or_answers_404() -> None:
    sandbox = create_sandbox("mailchimp")
    list_id = sandbox.config.lists[0]
    sandbox.state.upsert(
        list_id, {"email_address": "gone@example.com", "status": "subscribed"}, status_if_new=None
    )
    auth = base64.b64encode(f"any:{MAILCHIMP_KEY}".encode()).decode()
    path = f"/3.0/lists/{list_id}/members/{subscriber_hash('gone@example.com')}"
    with (
        serve_in_thread(sandbox.app) as base_url,
        httpx.Client(base_url=base_url, headers={"Authorization": f"Basic {auth}"}) as http,
    ):
        deleted = http.post(f"{path}/actions/delete-permanent")
        again = http.post(f"{path}/actions/delete-permanent")
        wrong_method = http.get(f"{path}/actions/delete-permanent")
    assert deleted.status_code == 204
    assert again.status_code == 404
    assert wrong_method.status_code == 405
    assert sandbox.state.members(list_id) == {} and sandbox.state.permanently_deleted == 1
