"""Syncs: scope, the creation audited, NotFound for unknown syncs, runs and connections."""

from __future__ import annotations

from typing import Any

import pytest

from renkei.errors import Conflict, Forbidden, Invalid, NotFound
from renkei.usecases import connections, syncs
from tests.usecases.actors import READER, WRITER, audit_entries, local_hub

SPEC: dict[str, Any] = {
    "name": "activities",
    "connection": "marketo",
    "direction": "pull",
    "object": "activities",
    "config": {"activity_type_ids": [1], "page_size": 25},
}


async def test_scope_audit_and_refusals(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        await connections.create_connection(
            hub,
            WRITER,
            name="marketo",
            connector="marketo",
            config={"base_url": "https://123-abc-456.mktorest.com"},
            credentials={"client_id": "id", "client_secret": "secret"},
        )
        with pytest.raises(Forbidden):
            await syncs.create_sync(hub, READER, SPEC)
        sync = await syncs.create_sync(hub, WRITER, SPEC)
        [entry] = await audit_entries(hub, "sync.created")
        assert (entry["actor"], entry["target_id"]) == ("tok_writer (writer)", sync.id)

        assert (await syncs.get_sync(hub, READER, "activities")).id == sync.id
        assert [s.id for s in await syncs.list_syncs(hub, READER, limit=5)] == [sync.id]
        for refused in (
            syncs.update_sync(hub, READER, sync.id, {"enabled": False}),
            syncs.delete_sync(hub, READER, sync.id),
            syncs.run_sync(hub, READER, sync.id),
        ):
            with pytest.raises(Forbidden):
                await refused

        with pytest.raises(Conflict, match="a sync named 'activities' exists"):
            await syncs.create_sync(hub, WRITER, SPEC)
        with pytest.raises(Invalid) as invalid:
            await syncs.create_sync(hub, WRITER, {**SPEC, "name": "x", "object": "nonsense"})
        assert invalid.value.code == "invalid_sync"

        run = await syncs.run_sync(hub, WRITER, "activities")
        assert (run.sync_id, run.status) == (sync.id, "queued")
        assert [r.id for r in await syncs.list_runs(hub, READER, sync.id, limit=5)] == [run.id]
        await syncs.delete_sync(hub, WRITER, sync.id)


async def test_unknown_ids_are_not_found(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for missing in (
            syncs.get_sync(hub, READER, "nope"),
            syncs.update_sync(hub, WRITER, "nope", {"enabled": False}),
            syncs.delete_sync(hub, WRITER, "nope"),
            syncs.run_sync(hub, WRITER, "nope"),
            syncs.list_runs(hub, READER, "nope", limit=5),
            syncs.get_run(hub, READER, "run_nope"),
        ):
            with pytest.raises(NotFound, match="nope does not exist"):
                await missing
        with pytest.raises(NotFound, match=r"^connection nope does not exist$"):
            await syncs.quota(hub, READER, "nope")
