"""Connections and the connector catalog: scope, audit (never a credential), refusals."""

from __future__ import annotations

import json

import pytest

from renkei.errors import Forbidden, Invalid, NotFound
from renkei.hub import Hub
from renkei.sandbox import MarketoSandboxConfig, create_marketo_app, serve_in_thread
from renkei.security.targets import CredentialMove
from renkei.usecases import LOCAL, connections
from renkei.usecases.connections import VendorFailed
from tests.usecases.actors import ADMIN, READER, WRITER, audit_entries, local_hub

SECRET = "client-secret-never-shown"


async def _marketo(hub: Hub) -> str:
    row = await connections.create_connection(
        hub,
        WRITER,
        name="marketo",
        connector="marketo",
        config={"base_url": "https://123-abc-456.mktorest.com"},
        credentials={"client_id": "id", "client_secret": SECRET},
    )
    return row.id


async def test_a_reader_may_look_but_not_change(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(Forbidden):
            await connections.create_connection(hub, READER, name="x", connector="marketo")
        connection_id = await _marketo(hub)
        assert (await connections.get_connection(hub, READER, "marketo")).id == connection_id
        assert [r.id for r in await connections.list_connections(hub, READER, limit=5)] == [
            connection_id
        ]
        for refused in (
            connections.update_connection(hub, READER, "marketo", name="y", changed=["name"]),
            connections.delete_connection(hub, READER, "marketo"),
            connections.test_connection(hub, READER, "marketo"),
            connections.submit(hub, READER, "marketo", "upsert_leads", [{"email": "a@b.c"}]),
            connections.call(hub, READER, "marketo", "read_activities", {}),
        ):
            with pytest.raises(Forbidden):
                await refused


async def test_audited_without_credentials(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        connection_id = await _marketo(hub)
        await connections.update_connection(
            hub, LOCAL, "marketo", limits={"batch_size": 50}, changed=["limits"], via="cli"
        )
        await connections.delete_connection(hub, ADMIN, connection_id)
        created = await audit_entries(hub, "connection.created")
        assert [(e["actor"], e["details"]) for e in created] == [
            ("tok_writer (writer)", {"name": "marketo", "connector": "marketo"})
        ]
        updated = await audit_entries(hub, "connection.updated")
        assert [(e["actor"], e["details"]) for e in updated] == [
            ("system", {"changed": ["limits"], "via": "cli"})
        ]
        deleted = await audit_entries(hub, "connection.deleted")
        assert [(e["actor"], e["target_id"]) for e in deleted] == [
            ("tok_admin (admin)", connection_id)
        ]
        for entry in (*created, *updated, *deleted):
            assert SECRET not in json.dumps(entry["details"])


async def test_moving_credentials_needs_admin_and_is_audited(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        await _marketo(hub)
        moved = {"base_url": "https://elsewhere.example.com"}
        with pytest.raises(CredentialMove) as refused:
            await connections.update_connection(
                hub, WRITER, "marketo", config=moved, changed=["config"]
            )
        assert isinstance(refused.value, Forbidden)
        assert refused.value.details["to"] == ["https://elsewhere.example.com"]
        await connections.update_connection(hub, ADMIN, "marketo", config=moved, changed=["config"])
        [entry] = await audit_entries(hub, "connection.target_changed")
        assert entry["details"] == {
            "from": ["https://123-abc-456.mktorest.com"],
            "to": ["https://elsewhere.example.com"],
            "given_again": [],
        }


async def test_refusals(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for missing in (
            connections.get_connection(hub, READER, "nope"),
            connections.update_connection(hub, WRITER, "nope", name="x", changed=["name"]),
            connections.delete_connection(hub, WRITER, "nope"),
            connections.test_connection(hub, WRITER, "nope"),
            connections.usage(hub, READER, "nope"),
            connections.get_submission(hub, READER, "sub_nope"),
        ):
            with pytest.raises(NotFound, match="nope does not exist"):
                await missing
        with pytest.raises(Invalid) as unknown:
            await connections.create_connection(hub, WRITER, name="x", connector="pigeon")
        assert unknown.value.code == "unknown_connector"
        await _marketo(hub)
        with pytest.raises(Invalid):
            await connections.submit(hub, WRITER, "marketo", "no_such_operation", [{}])
        assert await audit_entries(hub, "connection.deleted") == []


def test_the_catalog() -> None:
    names = [entry["name"] for entry in connections.catalog(READER, limit=500)]
    assert "marketo" in names
    first = connections.catalog(READER, limit=1)
    rest = connections.catalog(READER, limit=500, cursor=first.next_cursor)
    assert [entry["name"] for entry in [*first, *rest]] == names
    assert connections.connector_entry(READER, "marketo")["name"] == "marketo"
    with pytest.raises(NotFound, match="unknown connector 'pigeon'"):
        connections.connector_entry(READER, "pigeon")


async def test_a_call_the_vendor_refuses_is_a_vendor_failure(database_url: str) -> None:
    """Calls made now answer the vendor's refusal in the one tree: input the connector
    refuses is Invalid, a vendor that refuses the credentials a 502 (``vendor_error``)."""
    sandbox = create_marketo_app(MarketoSandboxConfig(seed_leads=1, seed_activities=1))
    with serve_in_thread(sandbox.app) as marketo_url:
        async with local_hub(database_url) as hub:
            await connections.create_connection(
                hub,
                WRITER,
                name="marketo",
                connector="marketo",
                config={"base_url": marketo_url},
                credentials={"client_id": "renkei-sandbox", "client_secret": "wrong"},
            )
            with pytest.raises(Invalid) as unknown:
                await connections.call(hub, WRITER, "marketo", "no_such_operation", {})
            assert unknown.value.code == "unknown_operation"
            with pytest.raises(VendorFailed) as refused:
                await connections.call(
                    hub,
                    WRITER,
                    "marketo",
                    "read_activities",
                    {"since": "2020-01-01T00:00:00Z", "activity_type_ids": [1]},
                )
            assert (refused.value.status, refused.value.code) == (502, "vendor_error")
            assert refused.value.details["kind"] == "ConfigurationError"
            assert "wrong" not in refused.value.message
