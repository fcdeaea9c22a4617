"""Webhooks use cases, as every door calls them: scope, audit, refusals (both backends)."""

from __future__ import annotations

from typing import Any

import pytest

from renkei.errors import Conflict, Forbidden, Invalid, NotFound, RenkeiError
from renkei.usecases import LOCAL, webhooks
from tests.usecases.actors import ADMIN, READER, WRITER, audit_entries, local_hub

FIELDS: dict[str, Any] = {"name": "crm", "url": "https://example.com/hook"}


async def test_a_reader_may_look_but_not_change(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(Forbidden, match="read; write is needed"):
            await webhooks.create_endpoint(hub, READER, FIELDS)
        endpoint = await webhooks.create_endpoint(hub, WRITER, FIELDS)
        assert (await webhooks.get_endpoint(hub, READER, endpoint.id)).endpoint.name == "crm"
        assert [view.endpoint.id for view in await webhooks.list_endpoints(hub, READER)] == [
            endpoint.id
        ]
        await webhooks.list_attempts(hub, READER, endpoint.id)
        await webhooks.list_event_types(hub, READER)
        await webhooks.list_deliveries(hub, READER)
        for refused in (
            webhooks.update_endpoint(hub, READER, endpoint.id, {"description": "x"}),
            webhooks.pause_endpoint(hub, READER, endpoint.id),
            webhooks.resume_endpoint(hub, READER, endpoint.id),
            webhooks.delete_endpoint(hub, READER, endpoint.id),
            webhooks.send_test(hub, READER, endpoint.id, "order.paid"),
            webhooks.recover(hub, READER, endpoint.id, since=hub.clock.now()),
            webhooks.resend(hub, READER, "dlv_nope"),
            webhooks.publish(hub, READER, event_type="order.paid", data={}),
            webhooks.create_event_type(hub, READER, name="order.paid"),
            webhooks.update_event_type(hub, READER, "order.paid", {"description": "x"}),
            webhooks.archive_event_type(hub, READER, "order.paid"),
            webhooks.reveal_secret(hub, WRITER, endpoint.id),
            webhooks.rotate_secret(hub, WRITER, endpoint.id),
        ):
            with pytest.raises(Forbidden):
                await refused
        assert await audit_entries(hub, "endpoint.secret_revealed") == []


async def test_changes_are_audited_with_who_and_what(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        endpoint = await webhooks.create_endpoint(hub, WRITER, FIELDS)
        await webhooks.update_endpoint(hub, WRITER, endpoint.id, {"description": "the CRM"})
        paused = await webhooks.pause_endpoint(hub, LOCAL, "crm", by_name=True, via="cli")
        assert paused.changed and paused.endpoint.id == endpoint.id
        assert not (await webhooks.pause_endpoint(hub, LOCAL, endpoint.id)).changed
        resumed = await webhooks.resume_endpoint(hub, WRITER, endpoint.id)
        assert resumed.released == 0
        secret = await webhooks.reveal_secret(hub, ADMIN, endpoint.id)
        assert secret.startswith("whsec_")
        rotated = await webhooks.rotate_secret(hub, LOCAL, "crm", by_name=True, via="cli")
        assert rotated != secret
        deleted = await webhooks.delete_endpoint(hub, WRITER, endpoint.id)
        assert (deleted.endpoint_id, deleted.cancelled) == (endpoint.id, 0)

        def seen(entries: list[dict[str, Any]]) -> list[tuple[str, Any]]:
            return [(entry["actor"], entry["details"]) for entry in entries]

        assert seen(await audit_entries(hub, "endpoint.created")) == [
            ("tok_writer (writer)", {"name": "crm", "url": "https://example.com/hook"})
        ]
        assert seen(await audit_entries(hub, "endpoint.updated")) == [
            ("tok_writer (writer)", {"fields": ["description"]})
        ]
        assert seen(await audit_entries(hub, "endpoint.paused")) == [("system", {"via": "cli"})]
        assert seen(await audit_entries(hub, "endpoint.resumed")) == [
            ("tok_writer (writer)", {"released": 0})
        ]
        assert seen(await audit_entries(hub, "endpoint.secret_revealed")) == [
            ("tok_admin (admin)", {})
        ]
        grace = hub.settings.secret_rotation_grace_seconds
        assert seen(await audit_entries(hub, "endpoint.secret_rotated")) == [
            ("system", {"grace_seconds": grace, "via": "cli"})
        ]
        assert seen(await audit_entries(hub, "endpoint.deleted")) == [
            ("tok_writer (writer)", {"cancelled_deliveries": 0})
        ]


async def test_event_types_are_audited(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        kind = await webhooks.create_event_type(hub, WRITER, name="order.paid")
        assert kind.name == "order.paid"
        await webhooks.update_event_type(hub, WRITER, "order.paid", {"description": "paid"})
        assert (await webhooks.get_event_type(hub, READER, "order.paid")).description == "paid"
        await webhooks.archive_event_type(hub, WRITER, "order.paid")
        assert [k for k in await webhooks.list_event_types(hub, READER) if not k.system] == []
        archived = await webhooks.list_event_types(hub, READER, include_archived=True)
        assert [kind.name for kind in archived if not kind.system] == ["order.paid"]
        for action, details in (
            ("event_type.created", {}),
            ("event_type.updated", {"fields": ["description"]}),
            ("event_type.archived", {}),
        ):
            entries = await audit_entries(hub, action)
            assert [(e["target_id"], e["details"]) for e in entries] == [("order.paid", details)]
        with pytest.raises(Conflict):
            await webhooks.create_event_type(hub, WRITER, name="order.paid")


async def test_unknown_ids_are_not_found(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for missing in (
            webhooks.get_endpoint(hub, READER, "ep_nope"),
            webhooks.get_endpoint(hub, READER, "nope", by_name=True),
            webhooks.update_endpoint(hub, WRITER, "ep_nope", {"description": "x"}),
            webhooks.pause_endpoint(hub, WRITER, "ep_nope"),
            webhooks.resume_endpoint(hub, WRITER, "ep_nope"),
            webhooks.delete_endpoint(hub, WRITER, "ep_nope"),
            webhooks.reveal_secret(hub, ADMIN, "ep_nope"),
            webhooks.rotate_secret(hub, ADMIN, "ep_nope"),
            webhooks.send_test(hub, WRITER, "ep_nope", "order.paid"),
            webhooks.recover(hub, WRITER, "ep_nope", since=hub.clock.now()),
            webhooks.list_attempts(hub, READER, "ep_nope"),
            webhooks.get_event_type(hub, READER, "nope"),
            webhooks.update_event_type(hub, WRITER, "nope", {"description": "x"}),
            webhooks.get_delivery(hub, READER, "dlv_nope"),
            webhooks.delivery_attempts(hub, READER, "dlv_nope"),
            webhooks.resend(hub, WRITER, "dlv_nope"),
            webhooks.deliveries_of_event(hub, READER, "evt_nope"),
        ):
            with pytest.raises(NotFound, match="does not exist"):
                await missing
        assert await audit_entries(hub, "endpoint.deleted") == []
        assert await audit_entries(hub, "delivery.resent") == []


async def test_names_shared_by_two_endpoints_need_the_id(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        first = await webhooks.create_endpoint(hub, WRITER, FIELDS)
        await webhooks.create_endpoint(hub, WRITER, FIELDS)
        with pytest.raises(Conflict, match="several endpoints are named crm"):
            await webhooks.delete_endpoint(hub, LOCAL, "crm", by_name=True)
        view = await webhooks.get_endpoint(hub, LOCAL, first.id, by_name=True)
        assert view.endpoint.id == first.id


async def test_pages_follow_the_cursor(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for number in range(3):
            await webhooks.create_endpoint(hub, WRITER, {**FIELDS, "name": f"crm {number}"})
        first = await webhooks.list_endpoints(hub, READER, limit=2)
        assert len(first) == 2 and first.next_cursor is not None
        rest = await webhooks.list_endpoints(hub, READER, limit=2, cursor=first.next_cursor)
        assert len(rest) == 1 and rest.next_cursor is None
        names = [view.endpoint.name for view in [*first, *rest]]
        assert sorted(names) == ["crm 0", "crm 1", "crm 2"]
        with pytest.raises(RenkeiError) as refused:
            await webhooks.list_endpoints(hub, READER, cursor="not a cursor!")
        assert (refused.value.status, refused.value.code) == (400, "invalid_cursor")
        with pytest.raises(RenkeiError) as too_many:
            await webhooks.list_endpoints(hub, READER, limit=501)
        assert (too_many.value.status, too_many.value.code) == (400, "invalid_limit")


async def test_publish_fans_out_and_the_event_lists_its_deliveries(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        endpoint = await webhooks.create_endpoint(hub, WRITER, FIELDS)
        published = await webhooks.publish(
            hub, WRITER, event_type="order.paid", data={"total": 3}, event_id="evt_1"
        )
        assert (published.status_code, published.body["deliveries"]) == (201, 1)
        rows = await webhooks.deliveries_of_event(hub, READER, "evt_1")
        assert [row["endpoint_id"] for row in rows] == [endpoint.id]
        listed = await webhooks.list_deliveries(hub, READER, endpoint_id=endpoint.id)
        assert [row["id"] for row in listed] == [rows[0]["id"]]
        now = hub.clock.now()
        with pytest.raises(Invalid, match="until must be after since"):
            await webhooks.recover(hub, WRITER, endpoint.id, since=now, until=now)
