"""Sources use cases, as every door calls them: scope, audit, refusals (both backends)."""

from __future__ import annotations

import pytest

from renkei.errors import Conflict, Forbidden, Invalid, NotFound
from renkei.events.sources import SourceChanges
from renkei.usecases import LOCAL, sources
from tests.usecases.actors import ADMIN, READER, WRITER, audit_entries, local_hub


async def test_a_reader_may_look_but_not_change(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(Forbidden):
            await sources.create_source(hub, READER, kind="tracking", name="web")
        created = await sources.create_source(hub, WRITER, kind="tracking", name="web")
        source_id = created.source.id
        assert (await sources.get_source(hub, READER, source_id)).name == "web"
        assert [source.id for source in await sources.list_sources(hub, READER)] == [source_id]
        for refused in (
            sources.update_source(hub, READER, source_id, SourceChanges(description="x")),
            sources.set_enabled(hub, READER, source_id, False),
            sources.delete_source(hub, READER, source_id),
            sources.replay_request(hub, READER, source_id, "req_nope"),
            sources.reveal_secret(hub, WRITER, source_id),
            sources.rotate_secret(hub, WRITER, source_id),
        ):
            with pytest.raises(Forbidden):
                await refused
        assert await audit_entries(hub, "source.secret_revealed") == []


async def test_changes_are_audited_with_who_and_what(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        created = await sources.create_source(hub, WRITER, kind="tracking", name="web")
        assert created.write_key
        source_id = created.source.id
        await sources.update_source(hub, WRITER, source_id, SourceChanges(description="shop"))
        disabled = await sources.set_enabled(hub, LOCAL, "web", False, by_name=True, via="cli")
        assert not disabled.enabled
        revealed = await sources.reveal_secret(hub, ADMIN, source_id)
        assert revealed == {"write_key": created.write_key}
        rotated = await sources.rotate_secret(hub, LOCAL, "web", by_name=True, via="cli")
        assert rotated["write_key"] != created.write_key
        assert await sources.delete_source(hub, WRITER, source_id) == source_id

        def seen(entries: list[dict[str, object]]) -> list[tuple[object, object]]:
            return [(entry["actor"], entry["details"]) for entry in entries]

        assert seen(await audit_entries(hub, "source.created")) == [
            ("tok_writer (writer)", {"name": "web", "kind": "tracking"})
        ]
        assert seen(await audit_entries(hub, "source.updated")) == [
            ("tok_writer (writer)", {"fields": ["description"]})
        ]
        assert seen(await audit_entries(hub, "source.disabled")) == [
            ("system", {"fields": ["enabled"], "via": "cli"})
        ]
        assert seen(await audit_entries(hub, "source.secret_revealed")) == [
            ("tok_admin (admin)", {})
        ]
        assert seen(await audit_entries(hub, "source.secret_rotated")) == [
            ("system", {"via": "cli"})
        ]
        assert seen(await audit_entries(hub, "source.deleted")) == [("tok_writer (writer)", {})]
        # Secrets never reach the audit log.
        for action in ("source.created", "source.secret_revealed", "source.secret_rotated"):
            for entry in await audit_entries(hub, action):
                assert created.write_key not in str(entry)
                assert rotated["write_key"] not in str(entry)


async def test_unknown_ids_are_not_found(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for missing in (
            sources.get_source(hub, READER, "src_nope"),
            sources.get_source(hub, READER, "nope", by_name=True),
            sources.update_source(hub, WRITER, "src_nope", SourceChanges(description="x")),
            sources.set_enabled(hub, WRITER, "src_nope", True),
            sources.delete_source(hub, WRITER, "src_nope"),
            sources.reveal_secret(hub, ADMIN, "src_nope"),
            sources.rotate_secret(hub, ADMIN, "src_nope"),
            sources.list_requests(hub, READER, "src_nope"),
            sources.get_request(hub, READER, "src_nope", "req_nope"),
        ):
            with pytest.raises(NotFound, match="does not exist"):
                await missing
        assert await audit_entries(hub, "source.deleted") == []


async def test_refusals_are_the_one_tree(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        await sources.create_source(hub, WRITER, kind="tracking", name="web")
        with pytest.raises(Conflict):
            await sources.create_source(hub, WRITER, kind="tracking", name="web")
        with pytest.raises(Invalid) as invalid:
            await sources.create_source(
                hub, WRITER, kind="webhook", name="hook", verification={"scheme": "nope"}
            )
        assert invalid.value.status == 422
