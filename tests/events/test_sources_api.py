"""/api/v1/sources: create, list, get, update, disable, delete, secrets, scopes, config."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

import httpx
import orjson

from renkei.config import apply_plan, export_state, make_plan
from renkei.hub import Hub
from renkei.store import Database
from tests.events.conftest import assert_error, count
from tests.support import server
from tests.support.rawscan import assert_not_stored, dump_all_rows
from tests.support.server import admin_client

SECRET = "vendor-secret-0123456789abcdef"


def track(base_url: str, write_key: str) -> httpx.Response:
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    return httpx.post(
        f"{base_url}/v1/track",
        content=orjson.dumps({"userId": "u1", "event": "E"}),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )


def stored_text(database_url: str) -> str:
    async def run() -> str:
        database = Database(database_url)
        try:
            return await dump_all_rows(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def no_plaintext(database_url: str, *secrets: str) -> None:
    async def run() -> None:
        database = Database(database_url)
        try:
            await assert_not_stored(database, *secrets)
        finally:
            await database.dispose()

    asyncio.run(run())


def test_tracking_source_lifecycle(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    base_url, _ = served
    created = admin.post(
        "/api/v1/sources", json={"kind": "tracking", "name": "web", "description": "shop"}
    )
    assert created.status_code == 201, created.text
    source = created.json()
    assert source["id"].startswith("src_")
    write_key = source["write_key"]
    assert write_key.startswith("wk_")
    assert source["write_key_hint"] == write_key[:7]
    assert "url" not in source
    no_plaintext(database_url, write_key)
    assert hashlib.sha256(write_key.encode()).hexdigest() in stored_text(database_url)

    listed = admin.get("/api/v1/sources")
    assert listed.status_code == 200
    assert write_key not in listed.text
    assert [item["id"] for item in listed.json()["data"]] == [source["id"]]
    assert listed.json()["next_cursor"] is None
    assert write_key not in admin.get(f"/api/v1/sources/{source['id']}").text

    assert track(base_url, write_key).status_code == 200

    renamed = admin.patch(f"/api/v1/sources/{source['id']}", json={"name": "website"})
    assert renamed.json()["name"] == "website"
    assert admin.post(f"/api/v1/sources/{source['id']}/disable").json()["enabled"] is False
    assert_error(track(base_url, write_key), 403, "source_disabled")
    assert admin.post(f"/api/v1/sources/{source['id']}/enable").json()["enabled"] is True

    revealed = admin.get(f"/api/v1/sources/{source['id']}/secret")
    assert revealed.json() == {"write_key": write_key}
    rotated = admin.post(f"/api/v1/sources/{source['id']}/secret/rotate").json()["write_key"]
    assert rotated != write_key
    assert_error(track(base_url, write_key), 401, "invalid_write_key")
    assert track(base_url, rotated).status_code == 200

    actions = [entry["action"] for entry in admin.get("/api/v1/audit").json()["data"]]
    assert {"source.created", "source.secret_revealed", "source.secret_rotated"} <= set(actions)
    assert write_key not in admin.get("/api/v1/audit").text

    assert admin.delete(f"/api/v1/sources/{source['id']}").status_code == 204
    assert_error(admin.get(f"/api/v1/sources/{source['id']}"), 404, "not_found")
    assert_error(track(base_url, rotated), 401, "invalid_write_key")
    assert count(database_url, "events") == 2  # a source's events outlive it


def test_webhook_source_secret_is_encrypted_shown_and_rotated(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    created = admin.post(
        "/api/v1/sources",
        json={
            "kind": "webhook",
            "name": "stripe",
            "verification": {"scheme": "stripe", "secret": SECRET},
            "mapping": {"type": "type", "id": "id"},
        },
    )
    assert created.status_code == 201, created.text
    source = created.json()
    assert source["url"].endswith(f"/hooks/{source['id']}")
    assert source["verification"] == {"scheme": "stripe", "has_secret": True}
    assert "secret" not in source  # given by the vendor, not generated: not echoed
    for answer in (admin.get("/api/v1/sources"), admin.get(f"/api/v1/sources/{source['id']}")):
        assert SECRET not in answer.text
    no_plaintext(database_url, SECRET)
    assert admin.get(f"/api/v1/sources/{source['id']}/secret").json() == {"secret": SECRET}

    # changing other settings keeps the secret
    patched = admin.patch(
        f"/api/v1/sources/{source['id']}",
        json={"verification": {"scheme": "stripe", "tolerance": 120}},
    )
    assert patched.status_code == 200, patched.text
    assert admin.get(f"/api/v1/sources/{source['id']}/secret").json() == {"secret": SECRET}

    vendor_only = admin.post(f"/api/v1/sources/{source['id']}/secret/rotate")
    assert_error(vendor_only, 422, "invalid_source")
    rotated = admin.post(
        f"/api/v1/sources/{source['id']}/secret/rotate", json={"secret": "whsec_new"}
    )
    assert rotated.json() == {"secret": "whsec_new"}


def test_generated_secret_for_schemes_renkei_may_choose(
    served: tuple[str, Hub], admin: httpx.Client, database_url: str
) -> None:
    created = admin.post(
        "/api/v1/sources",
        json={
            "kind": "webhook",
            "name": "sign",
            "verification": {"scheme": "hmac", "header": "X-Sig"},
        },
    ).json()
    secret = created["secret"]
    assert len(secret) > 30
    no_plaintext(database_url, secret)
    body = b'{"type": "ping"}'
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    answer = httpx.post(
        created["url"],
        content=body,
        headers={"X-Sig": signature, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    rotated = admin.post(f"/api/v1/sources/{created['id']}/secret/rotate").json()["secret"]
    assert rotated != secret
    again = httpx.post(created["url"], content=body, headers={"X-Sig": signature})
    assert_error(again, 401, "verification_failed")
    default = admin.post("/api/v1/sources", json={"kind": "webhook", "name": "open"}).json()
    assert default["verification"] == {"scheme": "none", "has_secret": False}
    assert default["mapping"] == {"type": {"value": "webhook"}}


def test_invalid_sources(served: tuple[str, Hub], admin: httpx.Client, database_url: str) -> None:
    assert_error(
        admin.post("/api/v1/sources", json={"kind": "poll", "name": "x"}), 422, "validation_failed"
    )
    assert_error(admin.post("/api/v1/sources", json={"kind": "tracking"}), 422, "validation_failed")
    bad = admin.post(
        "/api/v1/sources",
        json={
            "kind": "webhook",
            "name": "bad",
            "verification": {"scheme": "stripe", "secret": SECRET, "nope": 1},
        },
    )
    error = assert_error(bad, 422, "invalid_source")
    assert SECRET not in bad.text
    assert error["details"]
    assert_error(
        admin.post(
            "/api/v1/sources",
            json={"kind": "webhook", "name": "x", "verification": {"scheme": "rot13"}},
        ),
        422,
        "invalid_source",
    )
    assert_error(
        admin.post(
            "/api/v1/sources", json={"kind": "webhook", "name": "m", "mapping": {"id": "id"}}
        ),
        422,
        "invalid_source",
    )
    assert_error(
        admin.post(
            "/api/v1/sources", json={"kind": "tracking", "name": "t", "mapping": {"type": "t"}}
        ),
        422,
        "invalid_source",
    )
    assert (
        admin.post("/api/v1/sources", json={"kind": "tracking", "name": "dup"}).status_code == 201
    )
    assert_error(
        admin.post("/api/v1/sources", json={"kind": "tracking", "name": "dup"}), 409, "conflict"
    )
    assert_error(admin.get("/api/v1/sources/src_nope"), 404, "not_found")
    assert count(database_url, "sources") == 1


def test_scopes_and_pagination(served: tuple[str, Hub], admin: httpx.Client) -> None:
    base_url, _ = served
    for number in range(3):
        admin.post("/api/v1/sources", json={"kind": "tracking", "name": f"s{number}"})
    reader = admin.post("/api/v1/tokens", json={"name": "r", "scope": "read"}).json()["token"]
    writer = admin.post("/api/v1/tokens", json={"name": "w", "scope": "write"}).json()["token"]
    with admin_client(base_url, reader) as client:
        first = client.get("/api/v1/sources", params={"limit": 2}).json()
        assert len(first["data"]) == 2 and first["next_cursor"]
        rest = client.get("/api/v1/sources", params={"cursor": first["next_cursor"]}).json()
        assert [s["name"] for s in first["data"] + rest["data"]] == ["s0", "s1", "s2"]
        assert_error(
            client.post("/api/v1/sources", json={"kind": "tracking", "name": "x"}), 403, "forbidden"
        )
    with admin_client(base_url, writer) as client:
        source_id = first["data"][0]["id"]
        assert client.post(f"/api/v1/sources/{source_id}/disable").status_code == 200
        assert_error(client.get(f"/api/v1/sources/{source_id}/secret"), 403, "forbidden")


def test_sources_as_configuration(database_url: str) -> None:
    hub = Hub(server.test_settings(database_url))
    config = {
        "sources": [
            {"name": "app", "kind": "tracking"},
            {
                "name": "stripe",
                "kind": "webhook",
                "verification": {"scheme": "stripe", "secret": SECRET},
                "mapping": {"type": "type", "type_prefix": "stripe.", "id": "id"},
            },
        ]
    }

    async def run() -> None:
        plan = await make_plan(hub, config)
        assert [change.action for change in plan.changes] == ["create", "create"]
        await apply_plan(hub, plan)
        again = await make_plan(hub, config)
        assert [change.action for change in again.changes] == ["unchanged", "unchanged"]
        config["sources"][1]["mapping"] = {"type": "type"}
        changed = await make_plan(hub, config)
        assert [change.action for change in changed.changes] == ["unchanged", "update"]
        await apply_plan(hub, changed)
        exported = await export_state(hub)
        assert exported["sources"][1]["mapping"] == {"type": "type"}
        assert SECRET not in orjson.dumps(exported).decode()

    async def main() -> None:
        try:
            await run()
        finally:
            await hub.database.dispose()

    asyncio.run(main())
    no_plaintext(database_url, SECRET)


def test_a_preset_in_a_configuration_file(database_url: str) -> None:
    """``preset`` + ``settings`` in the sources section: expanded into the preset's
    verification and mapping, unchanged on a second plan, the secret never exported."""
    hub = Hub(server.test_settings(database_url))
    config = {
        "sources": [
            {"name": "pay", "preset": "stripe", "settings": {"secret": SECRET}},
            {"name": "news", "preset": "mailchimp", "mapping": {"type": "type"}},
        ]
    }

    async def run() -> None:
        plan = await make_plan(hub, config)
        assert [change.action for change in plan.changes] == ["create", "create"]
        await apply_plan(hub, plan)
        again = await make_plan(hub, config)
        assert [change.action for change in again.changes] == ["unchanged", "unchanged"]
        exported = {source["name"]: source for source in (await export_state(hub))["sources"]}
        assert exported["pay"]["verification"] == {"scheme": "stripe"}
        assert exported["pay"]["mapping"]["type_prefix"] == "stripe."
        assert exported["news"]["verification"] == {"scheme": "shared_secret", "query": "key"}
        assert exported["news"]["mapping"] == {"type": "type"}
        assert SECRET not in orjson.dumps(exported).decode()
        for bad, message in (
            ({"name": "x", "preset": "paypal"}, "unknown preset 'paypal'"),
            ({"name": "x", "preset": "stripe"}, "needs secret"),
            ({"name": "x", "kind": "tracking", "preset": "stripe"}, "webhook source"),
            ({"name": "x", "settings": {"secret": "s"}}, "settings go with a preset"),
        ):
            try:
                await make_plan(hub, {"sources": [bad]})
            except Exception as exc:
                assert message in str(exc), (bad, exc)
            else:
                raise AssertionError(f"{bad} was accepted")

    async def main() -> None:
        try:
            await run()
        finally:
            await hub.database.dispose()

    asyncio.run(main())
    no_plaintext(database_url, SECRET)
