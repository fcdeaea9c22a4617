"""Profiles: identity resolution, merges, traits with per-trait times, services for syncs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from renkei.events.envelope import Event
from renkei.events.profiles import (
    IdentityConflict,
    Profile,
    ProfileNotFound,
    ProfileQuery,
    apply_events,
    attach_identity,
    find_profiles,
    get_profile,
    resolve_profile,
    upsert_profile_traits,
)
from renkei.hub import Hub
from renkei.store import Database

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def event(
    type_: str,
    *,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    email: str | None = None,
    at: datetime = T0,
    **data: Any,
) -> Event:
    return Event(
        id=f"e{next(_ids)}",
        type=type_,
        name=None,
        data={"type": type_, **data},
        occurred_at=at,
        received_at=at,
        source_id="src_test",
        user_id=user_id,
        anonymous_id=anonymous_id,
        email=email,
    )


async def ingest(database: Database, *events: Event) -> None:
    async with database.transaction() as tx:
        await apply_events(tx, list(events), now=T0)


async def profile_of(database: Database, kind: str, value: str) -> Profile:
    async with database.read() as connection:
        found = await find_profiles(connection, ProfileQuery(identities=[(kind, value)]))
    assert len(found) == 1, found
    return found[0]


async def all_profiles(database: Database) -> list[Profile]:
    async with database.read() as connection:
        return await find_profiles(connection, ProfileQuery(limit=100))


def identities(profile: Profile) -> set[tuple[str, str]]:
    return {(identity.kind, identity.value) for identity in profile.identities}


async def test_identify_merges_traits_with_when_each_changed(database: Database) -> None:
    await ingest(database, event("identify", user_id="u1", traits={"plan": "free", "age": 30}))
    later = T0 + timedelta(hours=1)
    await ingest(
        database, event("identify", user_id="u1", at=later, traits={"plan": "pro", "age": 30})
    )
    profile = await profile_of(database, "user_id", "u1")
    assert profile.traits == {
        "plan": {"value": "pro", "updated_at": "2026-03-01T10:00:00.000Z"},
        "age": {"value": 30, "updated_at": "2026-03-01T09:00:00.000Z"},  # unchanged value
    }
    # an older event (a late import) doesn't overwrite a newer value
    await ingest(
        database, event("identify", user_id="u1", at=T0 - timedelta(days=1), traits={"plan": "x"})
    )
    assert (await profile_of(database, "user_id", "u1")).traits["plan"]["value"] == "pro"


async def test_rudderstack_context_traits_count(database: Database) -> None:
    await ingest(
        database,
        event(
            "identify",
            user_id="u1",
            context={"traits": {"plan": "a", "tier": 1}},
            traits={"plan": "b"},
        ),
    )
    traits = (await profile_of(database, "user_id", "u1")).traits
    assert {name: entry["value"] for name, entry in traits.items()} == {"plan": "b", "tier": 1}


async def test_anonymous_activity_joins_the_user_on_identify(database: Database) -> None:
    await ingest(database, event("page", anonymous_id="a1"), event("track", anonymous_id="a1"))
    assert len(await all_profiles(database)) == 1
    await ingest(
        database, event("identify", user_id="u1", anonymous_id="a1", email="Ada@Example.COM")
    )
    profiles = await all_profiles(database)
    assert len(profiles) == 1
    assert identities(profiles[0]) == {
        ("anonymous_id", "a1"),
        ("user_id", "u1"),
        ("email", "ada@example.com"),
    }


async def test_alias_merges_two_profiles_and_old_ids_resolve(database: Database) -> None:
    await ingest(
        database,
        event("identify", user_id="old-id", at=T0, traits={"plan": "free", "city": "Osaka"}),
        event("identify", user_id="new-id", at=T0 + timedelta(hours=1), traits={"plan": "pro"}),
    )
    old = await profile_of(database, "user_id", "old-id")
    await ingest(database, event("alias", user_id="new-id", previousId="old-id"))
    profiles = await all_profiles(database)
    assert len(profiles) == 1
    merged = profiles[0]
    assert identities(merged) == {("user_id", "old-id"), ("user_id", "new-id")}
    assert {name: entry["value"] for name, entry in merged.traits.items()} == {
        "plan": "pro",  # the later value wins
        "city": "Osaka",
    }
    async with database.read() as connection:
        resolved = await get_profile(connection, old.id)
    assert resolved is not None and resolved.id == merged.id


async def test_alias_of_an_unseen_id_links_it(database: Database) -> None:
    await ingest(database, event("alias", user_id="u1", previousId="anon-9"))
    profile = await profile_of(database, "anonymous_id", "anon-9")
    assert ("user_id", "u1") in identities(profile)


async def test_two_known_users_are_never_merged_implicitly(database: Database) -> None:
    await ingest(
        database,
        event("identify", user_id="u1", anonymous_id="shared-device"),
        event("identify", user_id="u2", anonymous_id="shared-device"),  # someone else, same device
        event("identify", user_id="u2", email="u2@example.com"),
    )
    u1 = await profile_of(database, "user_id", "u1")
    u2 = await profile_of(database, "user_id", "u2")
    assert u1.id != u2.id
    assert identities(u1) == {("user_id", "u1"), ("anonymous_id", "shared-device")}
    assert identities(u2) == {("user_id", "u2"), ("email", "u2@example.com")}


async def test_one_group_resolves_in_order(database: Database) -> None:
    await ingest(
        database,
        event("page", anonymous_id="a1"),
        event("identify", user_id="u1", anonymous_id="a1", traits={"x": 1}),
        event("track", user_id="u1", email="u1@example.com"),
    )
    profiles = await all_profiles(database)
    assert len(profiles) == 1
    assert identities(profiles[0]) == {
        ("anonymous_id", "a1"),
        ("user_id", "u1"),
        ("email", "u1@example.com"),
    }


async def test_services_for_syncs(database: Database) -> None:
    async with database.transaction() as tx:
        lead = await resolve_profile(
            tx,
            [("email", "Lead@Example.com"), ("marketo_lead_id", "1001")],
            now=T0,
            traits={"company": "Initech"},
        )
    await ingest(database, event("identify", user_id="u7", email="lead@example.com"))
    profile = await profile_of(database, "marketo_lead_id", "1001")
    assert profile.id == lead
    assert ("user_id", "u7") in identities(profile)

    async with database.transaction() as tx:
        assert await attach_identity(tx, lead, "hubspot_contact_id", "55", now=T0) == lead
        merged = await upsert_profile_traits(
            tx, lead, {"score": 12}, now=T0, at=T0 + timedelta(minutes=5)
        )
    assert merged["score"] == {"value": 12, "updated_at": "2026-03-01T09:05:00.000Z"}
    assert merged["company"]["value"] == "Initech"

    await ingest(database, event("identify", user_id="u8"))
    other = await profile_of(database, "user_id", "u8")
    with pytest.raises(IdentityConflict):
        async with database.transaction() as tx:
            await attach_identity(tx, other.id, "user_id", "u9", now=T0)
    with pytest.raises(IdentityConflict):
        async with database.transaction() as tx:
            await attach_identity(tx, other.id, "email", "lead@example.com", now=T0)
    with pytest.raises(ProfileNotFound):
        async with database.transaction() as tx:
            await attach_identity(tx, "prof_nope", "email", "x@example.com", now=T0)
    with pytest.raises(ValueError):
        async with database.transaction() as tx:
            await attach_identity(tx, lead, "Bad Kind", "1", now=T0)


def test_profiles_api(served: tuple[str, Hub], admin: httpx.Client, write_key: str) -> None:
    base_url, _ = served
    auth = httpx.BasicAuth(write_key, "")
    for message in (
        {"type": "page", "anonymousId": "a1", "name": "Home"},
        {
            "type": "identify",
            "userId": "u1",
            "anonymousId": "a1",
            "traits": {"email": "ada@example.com", "plan": "pro"},
        },
        {"type": "track", "userId": "u1", "event": "Bought"},
        {"type": "identify", "userId": "u2", "traits": {"plan": "free"}},
    ):
        answer = httpx.post(f"{base_url}/v1/{message['type']}", json=message, auth=auth)
        assert answer.status_code == 200, answer.text

    everyone = admin.get("/api/v1/profiles").json()
    assert len(everyone["data"]) == 2 and everyone["next_cursor"] is None
    first = admin.get("/api/v1/profiles", params={"limit": 1}).json()
    second = admin.get("/api/v1/profiles", params={"cursor": first["next_cursor"]}).json()
    assert {p["id"] for p in first["data"] + second["data"]} == {p["id"] for p in everyone["data"]}

    by_user = admin.get("/api/v1/profiles", params={"user_id": "u1"}).json()["data"]
    by_email = admin.get("/api/v1/profiles", params={"email": "ADA@example.com"}).json()["data"]
    by_anon = admin.get("/api/v1/profiles", params={"kind": "anonymous_id", "value": "a1"}).json()
    assert by_user == by_email == by_anon["data"]
    assert admin.get("/api/v1/profiles", params={"user_id": "nobody"}).json()["data"] == []
    profile = by_user[0]
    assert set(profile) >= {"id", "identities", "traits"}
    assert profile["traits"]["plan"]["value"] == "pro"

    detail = admin.get(f"/api/v1/profiles/{profile['id']}").json()
    assert [event["type"] for event in detail["recent_events"]] == ["track", "identify", "page"]
    limited = admin.get(f"/api/v1/profiles/{profile['id']}", params={"events": 1}).json()
    assert len(limited["recent_events"]) == 1
    assert admin.get("/api/v1/profiles/prof_nope").status_code == 404
    assert admin.get("/api/v1/profiles", params={"kind": "x"}).status_code == 400
