"""The Mailchimp sandbox through real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renkei.clock import ManualClock
from renkei.sandbox.mailchimp import (
    DEFAULT_API_KEY,
    DEFAULT_LIST_ID,
    MailchimpSandbox,
    MailchimpSandboxConfig,
)

from .vendor_clients import client_for

Start = Callable[..., tuple[MailchimpSandbox, httpx.Client, str]]
LIST = f"/3.0/lists/{DEFAULT_LIST_ID}"


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


@pytest.fixture
def mailchimp(clock: ManualClock, exit_stack: contextlib.ExitStack) -> Start:
    def start(**config: Any) -> tuple[MailchimpSandbox, httpx.Client, str]:
        sandbox = MailchimpSandbox(MailchimpSandboxConfig(**config), clock)
        return client_for(exit_stack, sandbox, auth=("anystring", DEFAULT_API_KEY))

    return start


def test_errors_are_problem_documents_and_the_key_is_basic_auth(mailchimp: Start) -> None:
    _, http, _ = mailchimp()
    missing = http.get("/3.0/ping", auth=None, headers={"Authorization": ""})
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["title"] == "API Key Missing"
    wrong = http.get("/3.0/ping", auth=("u", "0000-us21"))
    assert wrong.json()["title"] == "API Key Invalid" and wrong.status_code == 401
    problem = http.get(f"{LIST}/members/{md5('nobody@example.com')}").json()
    assert set(problem) >= {"type", "title", "status", "detail", "instance"}
    assert problem["status"] == 404
    assert http.get("/3.0/ping").json() == {"health_status": "Everything's Chimpy!"}


def test_put_upserts_by_hash_and_keeps_the_status_of_existing_members(mailchimp: Start) -> None:
    sandbox, http, _ = mailchimp()
    url = f"{LIST}/members/{md5('Ann@Example.com')}"
    no_status = http.put(url, json={"email_address": "Ann@Example.com"})
    assert no_status.status_code == 400 and no_status.json()["title"] == "Invalid Resource"
    created = http.put(
        url, json={"email_address": "Ann@Example.com", "status_if_new": "unsubscribed"}
    )
    assert created.status_code == 200 and created.json()["status"] == "unsubscribed"
    again = http.put(url, json={"email_address": "Ann@Example.com", "status_if_new": "subscribed"})
    assert again.json()["status"] == "unsubscribed"
    mismatch = http.put(
        url, json={"email_address": "bob@example.com", "status_if_new": "subscribed"}
    )
    assert mismatch.status_code == 400
    fake = http.put(
        f"{LIST}/members/{md5('x@y')}", json={"email_address": "x@y", "status": "subscribed"}
    )
    assert "looks fake or invalid" in fake.json()["detail"]
    assert len(sandbox.members()) == 1


def test_batch_upsert_reports_new_updated_and_errors(mailchimp: Start) -> None:
    sandbox, http, _ = mailchimp()
    http.put(
        f"{LIST}/members/{md5('a@example.com')}",
        json={"email_address": "a@example.com", "status": "subscribed"},
    )
    members = [
        {"email_address": "a@example.com", "status": "unsubscribed"},
        {"email_address": "b@example.com", "status": "subscribed", "tags": ["vip"]},
        {"email_address": "bad", "status": "subscribed"},
        {"email_address": "c@example.com"},
    ]
    kept = http.post(LIST, json={"members": members, "update_existing": False}).json()
    assert kept["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"
    answer = http.post(LIST, json={"members": members, "update_existing": True}).json()
    assert [m["email_address"] for m in answer["updated_members"]] == [
        "a@example.com",
        "b@example.com",
    ]
    assert (answer["total_created"], answer["total_updated"], answer["error_count"]) == (0, 2, 2)
    assert {e["email_address"] for e in answer["errors"]} == {"bad", "c@example.com"}
    assert sandbox.member("a@example.com").status == "unsubscribed"  # type: ignore[union-attr]
    too_many = http.post(
        LIST,
        json={
            "members": [
                {"email_address": f"m{n}@example.com", "status": "subscribed"} for n in range(501)
            ]
        },
    )
    assert too_many.status_code == 400
    assert [v.kind for v in sandbox.violations] == ["batch_size"]


def test_tags_and_events_answer_204(mailchimp: Start) -> None:
    sandbox, http, _ = mailchimp()
    member = f"{LIST}/members/{md5('t@example.com')}"
    http.put(member, json={"email_address": "t@example.com", "status": "subscribed"})
    tags = http.post(f"{member}/tags", json={"tags": [{"name": "a", "status": "active"}]})
    assert tags.status_code == 204 and tags.content == b""
    assert (
        http.post(
            f"{member}/events", json={"name": "signed_up", "properties": {"k": "v"}}
        ).status_code
        == 204
    )
    bad = http.post(f"{member}/events", json={"name": "has spaces"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "name"
    assert [e.name for e in sandbox.events] == ["signed_up"]


def test_members_page_with_offset_count_and_total_items(
    mailchimp: Start, clock: ManualClock
) -> None:
    sandbox, http, _ = mailchimp(seed_members=25)
    page = http.get(f"{LIST}/members", params={"count": 10, "offset": 20}).json()
    assert page["total_items"] == 25 and len(page["members"]) == 5
    since = http.get(
        f"{LIST}/members",
        params={
            "since_last_changed": "2025-12-31T23:59:50+00:00",
            "sort_field": "last_changed",
            "sort_dir": "DESC",
        },
    ).json()
    assert since["total_items"] == 10
    changed = [m["last_changed"] for m in since["members"]]
    assert changed == sorted(changed, reverse=True)
    assert http.get(f"{LIST}/members", params={"count": 1001}).status_code == 400
    assert [v.kind for v in sandbox.violations] == ["page_size"]


async def test_an_eleventh_simultaneous_connection_is_refused_and_recorded(
    mailchimp: Start,
) -> None:
    sandbox, _, base_url = mailchimp()
    async with httpx.AsyncClient(
        base_url=base_url, auth=("u", DEFAULT_API_KEY), timeout=10
    ) as http:
        with sandbox.hold() as gate:
            held = [asyncio.create_task(http.get("/3.0/ping")) for _ in range(10)]
            assert await asyncio.to_thread(gate.wait_for_waiters, 10)
            eleventh = await http.get("/3.0/ping")
        answers = await asyncio.gather(*held)
    assert eleventh.status_code == 429
    assert "10 simultaneous connections" in eleventh.json()["detail"]
    assert all(a.status_code == 200 for a in answers)
    assert [v.kind for v in sandbox.violations] == ["concurrency"]
