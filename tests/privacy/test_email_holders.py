"""Issue 20, found in review: deleting by email reaches the profiles that hold the email only
as a trait. Profile A owns the email identity; ``identify {userId: u-42, traits: {email}}``
builds profile B, which cannot own the identity too and keeps the email in its traits and
its events. Deleting A's profile, then the email, leaves no row (and, on SQLite, no raw
byte) holding the email, on both backends; someone else's profile stays."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from renkei.store import Database
from tests.privacy.support import finished_request
from tests.support.rawscan import assert_not_in_files, dump_all_rows
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(180)

EMAIL = "ada.holder-5d2e@example.com"
OWNER = "cus-holder-5d2e"
HOLDER = "u-holder-5d2e"
OTHER = "u-keep-5d2e"


def _send(base_url: str, write_key: str, batch: list[dict[str, Any]]) -> None:
    response = httpx.post(
        f"{base_url}/v1/batch", json={"batch": batch}, auth=(write_key, ""), timeout=30
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("events_mode", ["delete", "scrub"])
@pytest.mark.parametrize("lookup", ["profile", "email"])
async def test_deleting_an_email_reaches_profiles_holding_it_only_as_a_trait(
    database_url: str, database: Database, events_mode: str, lookup: str
) -> None:
    with (
        running_hub(database_url, worker_poll_interval=0.05) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        write_key = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"}).json()[
            "write_key"
        ]
        _send(
            base_url,
            write_key,
            [{"type": "identify", "userId": OWNER, "traits": {"email": EMAIL, "plan": "pro"}}],
        )
        _send(
            base_url,
            write_key,
            [
                {"type": "identify", "userId": HOLDER, "traits": {"email": EMAIL.upper()}},
                {
                    "type": "track",
                    "userId": HOLDER,
                    "event": "Signed Up",
                    "context": {"traits": {"email": EMAIL}},
                },
                {
                    "type": "track",
                    "userId": OTHER,
                    "event": "Invited",
                    "properties": {"email": EMAIL},
                },
                {"type": "identify", "userId": OTHER, "traits": {"email": "keep@example.com"}},
            ],
        )
        owner = admin.get("/api/v1/profiles", params={"user_id": OWNER}).json()["data"]
        holder = admin.get("/api/v1/profiles", params={"user_id": HOLDER}).json()["data"]
        assert len(owner) == 1 and len(holder) == 1
        assert owner[0]["id"] != holder[0]["id"]  # two profiles, as the review found

        if lookup == "profile":  # the review's order: A's profile, then the email
            by_profile = admin.post(
                f"/api/v1/profiles/{owner[0]['id']}/delete", json={"events": events_mode}
            )
            assert by_profile.status_code == 201, by_profile.text
            assert finished_request(admin, by_profile.json()["id"])["status"] == "done"
            # A's emails reach B already.
            assert admin.get("/api/v1/profiles", params={"user_id": HOLDER}).json()["data"] == []
        by_email = admin.post(
            "/api/v1/privacy-requests",
            json={"kind": "delete", "email": EMAIL, "events": events_mode},
        )
        assert by_email.status_code == 201, by_email.text
        assert finished_request(admin, by_email.json()["id"])["status"] == "done"

        assert admin.get("/api/v1/profiles", params={"user_id": HOLDER}).json()["data"] == []
        kept = admin.get("/api/v1/profiles", params={"user_id": OTHER}).json()["data"]
        assert len(kept) == 1  # properties.email names the invitee, not this person

    dump = await dump_all_rows(database)
    assert EMAIL not in dump.lower()
    assert "keep@example.com" in dump
    assert_not_in_files(database_url, EMAIL, EMAIL.upper())
