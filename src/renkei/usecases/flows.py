"""Flows: create, edit (a new version), enable/disable, delete, validate, preview, versions,
runs and the signing secret.

``via`` names the door a local actor came in by (``"cli"``); it is written into the audit
entry's details, as the CLI always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import Invalid, NotFound
from renkei.events.envelope import format_timestamp
from renkei.events.history import event_dict, get_event
from renkei.flows import service
from renkei.flows.preview import preview_flow, sample_event
from renkei.flows.scope import load_profile
from renkei.flows.service import FlowRecord, secret_targets
from renkei.flows.spec import validate_flow
from renkei.usecases.access import Actor, can_move_credentials, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "create_flow",
    "delete_flow",
    "get_flow",
    "get_run",
    "list_flows",
    "list_runs",
    "list_versions",
    "preview",
    "reveal_secret",
    "rotate_secret",
    "set_enabled",
    "update_flow",
    "validate",
]


async def _find(connection: AsyncConnection, ref: str, *, by_name: bool) -> FlowRecord:
    if by_name:
        return await service.find_flow(connection, ref)
    return await service.get_flow(connection, ref)


async def create_flow(
    hub: Hub, actor: Actor, spec: Mapping[str, Any], *, via: str | None = None
) -> FlowRecord:
    require(actor, "write")
    async with hub.database.transaction() as tx:
        record = await service.create_flow(
            hub, tx, spec, may_move_credentials=can_move_credentials(actor)
        )
        await _audit_moves(hub, tx, actor, None, record)
        await hub.audit(
            tx,
            actor,
            "flow.created",
            target_type="flow",
            target_id=record.id,
            details=with_via(via, {"name": record.name}),
        )
    return record


def validate(actor: Actor, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every problem of a spec (trigger, steps, reeligibility), without saving it."""
    require(actor, "read")
    return validate_flow(dict(spec))


async def list_flows(
    hub: Hub, actor: Actor, *, limit: int | None = None, cursor: str | None = None
) -> Listed[FlowRecord]:
    require(actor, "read")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        found = await service.list_flows(connection, limit=size + 1, after=after)
    return Listed.cut(found, size, lambda record: record.id)


async def get_flow(hub: Hub, actor: Actor, ref: str, *, by_name: bool = False) -> FlowRecord:
    """A flow by id (or, ``by_name``, by id or name)."""
    require(actor, "read")
    async with hub.database.read() as connection:
        return await _find(connection, ref, by_name=by_name)


async def update_flow(
    hub: Hub,
    actor: Actor,
    flow_id: str,
    changes: Mapping[str, Any],
    *,
    replace: bool = False,
) -> FlowRecord:
    """Change any field (``replace``: the whole spec, as PUT); a change to trigger, steps or
    reeligibility makes a new version."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        before = await service.get_flow(tx, flow_id)
        record = await service.update_flow(
            hub, tx, flow_id, changes, may_move_credentials=can_move_credentials(actor)
        )
        await _audit_moves(hub, tx, actor, before, record)
        details: dict[str, Any] = {"version": record.version}
        if not replace:
            details["fields"] = sorted(changes)
        await hub.audit(
            tx, actor, "flow.updated", target_type="flow", target_id=flow_id, details=details
        )
    return record


async def _audit_moves(
    hub: Hub, tx: AsyncConnection, actor: Actor, before: FlowRecord | None, after: FlowRecord
) -> None:
    """Record a secret sent to a new host: who, from where, to where (origins), which
    secrets (names, never a value). A new flow's own signing secret is no move."""
    old = secret_targets(before.spec) if before else set()
    new = secret_targets(after.spec, signing=before is not None) - old
    if new:
        await hub.audit(
            tx,
            actor,
            "flow.target_changed",
            target_type="flow",
            target_id=after.id,
            details={
                "from": sorted({where for where, _ in old}),
                "to": sorted({where for where, _ in new}),
                "uses": sorted({secret for _, secret in new}),
            },
        )


async def delete_flow(hub: Hub, actor: Actor, flow_id: str) -> None:
    """Soft delete: runs and versions stay readable; runs under way finish."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        await service.delete_flow(hub, tx, flow_id)
        await hub.audit(tx, actor, "flow.deleted", target_type="flow", target_id=flow_id)


async def set_enabled(
    hub: Hub,
    actor: Actor,
    ref: str,
    enabled: bool,
    *,
    by_name: bool = False,
    via: str | None = None,
) -> FlowRecord:
    """Enable (new events start runs) or disable (they no longer do; runs under way finish)."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        found = await _find(tx, ref, by_name=by_name)
        record = await service.set_enabled(hub, tx, found.id, enabled)
        await hub.audit(
            tx,
            actor,
            "flow.enabled" if enabled else "flow.disabled",
            target_type="flow",
            target_id=found.id,
            details=with_via(via),
        )
    return record


async def list_versions(hub: Hub, actor: Actor, flow_id: str) -> list[dict[str, Any]]:
    require(actor, "read")
    async with hub.database.read() as connection:
        return await service.list_versions(connection, flow_id)


async def list_runs(
    hub: Hub,
    actor: Actor,
    ref: str,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    status: str | None = None,
    by_name: bool = False,
) -> Listed[dict[str, Any]]:
    """Runs, newest first, each with its steps' inputs, outputs and problems (secrets
    redacted)."""
    require(actor, "read")
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    async with hub.database.read() as connection:
        record = await _find(connection, ref, by_name=by_name)
        found = await service.list_runs(
            connection, record.id, limit=size + 1, before=before, status=status
        )
    return Listed.cut(found, size, lambda run: run["id"])


async def get_run(hub: Hub, actor: Actor, flow_id: str, run_id: str) -> dict[str, Any]:
    require(actor, "read")
    async with hub.database.read() as connection:
        found = await service.get_run(connection, run_id)
    if found is None or found["flow_id"] != flow_id:
        raise NotFound("run", run_id)
    return found


async def preview(
    hub: Hub,
    actor: Actor,
    ref: str,
    *,
    event: dict[str, Any] | None = None,
    event_id: str | None = None,
    profile: dict[str, Any] | None = None,
    responses: dict[str, Any] | None = None,
    version: int | None = None,
    by_name: bool = False,
) -> dict[str, Any]:
    """What the flow would do with a sample ``event`` (or the stored ``event_id``): every
    step's output and the exact HTTP requests it would make. Sends nothing, stores nothing."""
    require(actor, "write")
    engine = hub.flows
    now_text = format_timestamp(hub.clock.now())
    async with hub.database.read() as connection:
        record = await _find(connection, ref, by_name=by_name)
        spec, shown = record.spec, record.version
        if version is not None and version != record.version:
            try:
                compiled = await engine.catalog.version(connection, record.id, version)
            except LookupError:
                raise NotFound(f"flow {record.id} version", str(version)) from None
            spec, shown = compiled.spec, version
        if event_id is not None:
            row = await get_event(connection, event_id)
            if row is None:
                raise NotFound("event", event_id)
            sample = event_dict(row)
        elif event is not None:
            sample = sample_event(event, now_text)
        else:
            raise Invalid("give a sample event or an event_id")
        if profile is None:
            profile = await load_profile(connection, sample)
        secret = await service.reveal_secret(hub, connection, record.id)
    return await preview_flow(
        engine,
        flow_id=record.id,
        name=record.name,
        version=shown,
        spec=spec,
        secret=secret,
        event=sample,
        profile=profile,
        responses=responses or {},
    )


async def reveal_secret(hub: Hub, actor: Actor, flow_id: str) -> str:
    """The secret that signs this flow's requests to ad-hoc URLs (Standard Webhooks)."""
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        value = await service.reveal_secret(hub, tx, flow_id)
        await hub.audit(tx, actor, "flow.secret_revealed", target_type="flow", target_id=flow_id)
    return value


async def rotate_secret(hub: Hub, actor: Actor, flow_id: str) -> str:
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        value = await service.rotate_secret(hub, tx, flow_id)
        await hub.audit(tx, actor, "flow.secret_rotated", target_type="flow", target_id=flow_id)
    return value
