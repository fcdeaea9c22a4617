"""Issue 20 (3): a suppressed person's next events are not stored and trigger nothing (no
delivery, no flow call), counted; suppressions are kept as keyed hashes only; lifting is
audited and lets the person's events in again. Real HTTP on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from renkei.store import Database
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.events.test_hook_replays import WHSEC, _standard
from tests.support.rawscan import assert_not_in_files, assert_not_stored
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(120)

USER_ID = "user-suppressed-5d21"
EMAIL = "suppressed-5d21@example.com"
ANONYMOUS_ID = "anon-suppressed-5d21"
NEVER_SEEN = "never-seen-a0c4@example.com"
CANARY = "user-canary-77e0"


def _send(base_url: str, write_key: str, *messages: dict[str, Any]) -> None:
    response = httpx.post(
        f"{base_url}/v1/batch", json={"batch": list(messages)}, auth=(write_key, ""), timeout=30
    )
    assert response.status_code == 200, response.text


def _order(user_id: str | None = None, **identity: str) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "track", "event": "Order Completed", **identity}
    if user_id is not None:
        message["userId"] = user_id
    return message


def _received_users(receiver: Receiver) -> list[str | None]:
    users = []
    for request in receiver.snapshot():
        body = request.json
        event = body.get("data") if isinstance(body.get("data"), dict) else body
        users.append(event.get("userId") or event.get("anonymousId"))
    return users


def _suppressed_total(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    found = re.search(r"^renkei_ingest_suppressed_events_total ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_a_suppressed_person_is_dropped_at_ingest_until_lifted(
    database_url: str, database: Database
) -> None:
    with (
        Receiver() as receiver,
        running_hub(database_url, worker_poll_interval=0.05) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        assert (
            admin.post(
                "/api/v1/endpoints",
                json={"name": "crm", "url": receiver.url, "event_types": ["track"]},
            ).status_code
            == 201
        )
        write_key = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"}).json()[
            "write_key"
        ]
        _send(
            base_url,
            write_key,
            {
                "type": "identify",
                "userId": USER_ID,
                "anonymousId": ANONYMOUS_ID,
                "traits": {"email": EMAIL},
            },
        )
        wait_until(
            lambda: bool(admin.get("/api/v1/profiles", params={"user_id": USER_ID}).json()["data"])
        )

        created = admin.post("/api/v1/suppressions", json={"kind": "user_id", "value": USER_ID})
        assert created.status_code == 201, created.text
        suppression = created.json()
        assert re.fullmatch(r"[0-9a-f]{64}", suppression["value_hash"])
        assert suppression["covers"] == 2  # the profile's email and anonymous id
        assert USER_ID not in created.text
        again = admin.post("/api/v1/suppressions", json={"kind": "user_id", "value": USER_ID})
        assert again.status_code == 200 and again.json()["id"] == suppression["id"]
        never = admin.post("/api/v1/suppressions", json={"kind": "email", "value": NEVER_SEEN})
        assert never.status_code == 201, never.text
        listed = admin.get("/api/v1/suppressions")
        assert {s["id"] for s in listed.json()["data"]} == {suppression["id"], never.json()["id"]}
        assert USER_ID not in listed.text and NEVER_SEEN not in listed.text

        before = _suppressed_total(base_url)
        _send(
            base_url,
            write_key,
            _order(USER_ID),
            _order(anonymousId=ANONYMOUS_ID),  # covered through the profile
            _order("someone-else", context={"traits": {"email": NEVER_SEEN}}),
            _order(CANARY),
        )
        wait_until(lambda: CANARY in _received_users(receiver))
        assert _received_users(receiver) == [CANARY]
        assert _suppressed_total(base_url) - before == 3
        names = [e["type"] for e in admin.get("/api/v1/events").json()["data"]]
        assert names.count("track") == 1 and names.count("identify") == 1

        lifted = admin.delete(f"/api/v1/suppressions/{suppression['id']}")
        assert lifted.status_code == 204, lifted.text
        assert admin.delete(f"/api/v1/suppressions/{suppression['id']}").status_code == 404
        audit = admin.get("/api/v1/audit").json()["data"]
        assert {"suppression.created", "suppression.lifted"} <= {e["action"] for e in audit}
        assert USER_ID not in str(audit) and NEVER_SEEN not in str(audit)

        _send(base_url, write_key, _order(USER_ID))
        deadline = time.monotonic() + 30
        while USER_ID not in _received_users(receiver) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _received_users(receiver) == [CANARY, USER_ID]

    await assert_not_stored(database, NEVER_SEEN)
    await database.dispose()
    assert_not_in_files(database_url, NEVER_SEEN)


def test_bad_suppressions_and_requests_are_refused_in_json(database_url: str) -> None:
    with (
        running_hub(database_url, with_worker=False) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        for body, status in (
            ({"kind": "phone", "value": "x"}, 422),
            ({"kind": "email", "value": ""}, 422),
            ({"kind": "email"}, 422),
            ({"kind": "email", "value": "a@b.c", "extra": 1}, 422),
        ):
            response = admin.post("/api/v1/suppressions", json=body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"]["code"]
        assert admin.delete("/api/v1/suppressions/sup_nope").status_code == 404
        for body, status in (
            ({"kind": "delete"}, 422),  # no subject
            ({"kind": "delete", "email": "a@b.c", "user_id": "u"}, 422),  # two
            ({"kind": "export", "email": "a@b.c"}, 422),
            ({"kind": "delete", "email": "a@b.c", "events": "shred"}, 422),
            ({"kind": "delete", "profile_id": "prof_nope"}, 404),
        ):
            response = admin.post("/api/v1/privacy-requests", json=body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"]["code"]
        assert admin.get("/api/v1/privacy-requests/prq_nope").status_code == 404
        assert admin.post("/api/v1/profiles/prof_nope/delete").status_code == 404
        assert admin.get("/api/v1/profiles/prof_nope/export").status_code == 404
        assert admin.get("/api/v1/privacy-requests", params={"limit": 0}).status_code == 400
        assert admin.get("/api/v1/suppressions", params={"cursor": "%%"}).status_code == 400


async def test_a_suppressed_persons_inbound_webhook_is_dropped_and_its_body_not_kept(
    database_url: str, database: Database
) -> None:
    with (
        running_hub(database_url, worker_poll_interval=0.05) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        source = admin.post(
            "/api/v1/sources",
            json={
                "kind": "webhook",
                "name": "mailchimp-hooks",
                "verification": {"scheme": "standard_webhooks", "secret": WHSEC},
                "mapping": {"type": "type", "email": "data.email"},
            },
        ).json()
        assert (
            admin.post(
                "/api/v1/suppressions", json={"kind": "email", "value": NEVER_SEEN}
            ).status_code
            == 201
        )
        body = json.dumps({"type": "unsubscribe", "data": {"email": NEVER_SEEN}}).encode()
        headers = {"Content-Type": "application/json", **_standard("webhook")(body)}
        answer = httpx.post(source["url"], content=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        requests = admin.get(f"/api/v1/sources/{source['id']}/requests").json()["data"]
        assert [r["status"] for r in requests] == ["suppressed"]
        assert requests[0]["event_ids"] == []
        replay = admin.post(f"/api/v1/sources/{source['id']}/requests/{requests[0]['id']}/replay")
        assert replay.status_code == 410, replay.text
        assert admin.get("/api/v1/events").json()["data"] == []
    await assert_not_stored(database, NEVER_SEEN)
    await database.dispose()
    assert_not_in_files(database_url, NEVER_SEEN)
