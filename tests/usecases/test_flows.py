"""Flow use cases, as every door calls them: scope, audit, refusals (both backends)."""

from __future__ import annotations

from typing import Any

import pytest

from renkei.errors import Forbidden, Invalid, NotFound
from renkei.flows.problems import FlowSpecError
from renkei.flows.service import FlowConflict
from renkei.usecases import LOCAL, flows
from tests.usecases.actors import ADMIN, READER, WRITER, audit_entries, local_hub

SPEC: dict[str, Any] = {
    "name": "welcome",
    "trigger": {"event_types": ["track"]},
    "steps": [{"id": "body", "template": {"source": '{"email": "{{ event.email }}"}'}}],
}


async def test_a_reader_may_look_but_not_change(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(Forbidden):
            await flows.create_flow(hub, READER, SPEC)
        record = await flows.create_flow(hub, WRITER, SPEC)
        assert (await flows.get_flow(hub, READER, record.id)).name == "welcome"
        for refused in (
            flows.update_flow(hub, READER, record.id, {"description": "x"}),
            flows.set_enabled(hub, READER, record.id, False),
            flows.delete_flow(hub, READER, record.id),
            flows.preview(hub, READER, record.id, event={"type": "track"}),
            flows.reveal_secret(hub, WRITER, record.id),
            flows.rotate_secret(hub, WRITER, record.id),
        ):
            with pytest.raises(Forbidden):
                await refused


async def test_changes_are_audited_with_who_and_what(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        record = await flows.create_flow(hub, WRITER, SPEC)
        await flows.update_flow(hub, WRITER, record.id, {"description": "hello"})
        await flows.set_enabled(hub, LOCAL, "welcome", False, by_name=True, via="cli")
        await flows.reveal_secret(hub, ADMIN, record.id)
        await flows.delete_flow(hub, WRITER, record.id)

        created = await audit_entries(hub, "flow.created")
        assert [(e["actor"], e["target_id"], e["details"]) for e in created] == [
            ("tok_writer (writer)", record.id, {"name": "welcome"})
        ]
        updated = await audit_entries(hub, "flow.updated")
        assert updated[0]["details"] == {"version": 1, "fields": ["description"]}
        disabled = await audit_entries(hub, "flow.disabled")
        assert [(e["actor"], e["details"]) for e in disabled] == [("system", {"via": "cli"})]
        assert len(await audit_entries(hub, "flow.secret_revealed")) == 1
        assert len(await audit_entries(hub, "flow.deleted")) == 1


async def test_unknown_ids_are_not_found(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for missing in (
            flows.get_flow(hub, READER, "flow_nope"),
            flows.get_flow(hub, READER, "nope", by_name=True),
            flows.update_flow(hub, WRITER, "flow_nope", {"description": "x"}),
            flows.set_enabled(hub, WRITER, "flow_nope", True),
            flows.delete_flow(hub, WRITER, "flow_nope"),
            flows.list_versions(hub, READER, "flow_nope"),
            flows.list_runs(hub, READER, "flow_nope", limit=10),
            flows.get_run(hub, READER, "flow_nope", "run_nope"),
            flows.reveal_secret(hub, ADMIN, "flow_nope"),
        ):
            with pytest.raises(NotFound, match="does not exist"):
                await missing
        assert await audit_entries(hub, "flow.secret_revealed") == []


async def test_refusals_are_the_one_tree(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(FlowSpecError) as invalid:
            await flows.create_flow(hub, WRITER, {**SPEC, "steps": [{"id": "x", "nope": 1}]})
        assert isinstance(invalid.value, Invalid)
        assert (invalid.value.status, invalid.value.code) == (422, "invalid_flow")
        assert invalid.value.details == invalid.value.problems
        await flows.create_flow(hub, WRITER, SPEC)
        with pytest.raises(FlowConflict) as taken:
            await flows.create_flow(hub, WRITER, SPEC)
        assert (taken.value.status, taken.value.code) == (409, "conflict")
        with pytest.raises(Invalid, match="give a sample event"):
            await flows.preview(hub, WRITER, "welcome", by_name=True)


async def test_preview_of_a_version_that_never_was_is_not_found(database_url: str) -> None:
    """It was an unhandled LookupError (a 500 from the API)."""
    async with local_hub(database_url) as hub:
        record = await flows.create_flow(hub, WRITER, SPEC)
        shown = await flows.preview(hub, WRITER, record.id, event={"type": "track"})
        assert shown
        with pytest.raises(NotFound, match="version 7 does not exist"):
            await flows.preview(hub, WRITER, record.id, event={"type": "track"}, version=7)


def test_validate_needs_only_read() -> None:
    spec = {key: SPEC[key] for key in ("trigger", "steps")}
    assert flows.validate(READER, spec) == []
