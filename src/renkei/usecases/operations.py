"""Bulk operations: resend deliveries by a filter, replay stored events to an endpoint or a
flow, rerun flow runs by a filter; follow one's progress (``renkei.operations``).

Each returns the operation and whether it is new: an identical operation (same kind and
filter) still under way is returned instead of a second one. Filters are checked here, so
a bad one is a clear 422 and never a job that fails later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from renkei.delivery.fanout import find_endpoint
from renkei.errors import Conflict, Gone, Invalid, NotFound
from renkei.events.envelope import format_timestamp
from renkei.events.history import get_event
from renkei.flows import service as flows_service
from renkei.flows.service import FlowRecord
from renkei.operations import Operation, replay, rerun, resend
from renkei.operations.retention import refuse_expired_window
from renkei.syncs.model import SyncRun
from renkei.usecases.access import Actor, require
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from renkei.hub import Hub
    from renkei.operations.runner import Progress

__all__ = [
    "RERUNNABLE",
    "RESENDABLE",
    "get_operation",
    "replay_to_endpoint",
    "replay_to_flow",
    "rerun_flow_run",
    "rerun_flow_runs",
    "rerun_sync_run",
    "resend_deliveries",
    "work_operation",
]

RESENDABLE = ("failed", "exhausted", "succeeded", "cancelled")
RERUNNABLE = rerun.RERUNNABLE
Started = tuple[Operation, bool]


def _window(since: datetime | None, until: datetime | None) -> dict[str, str]:
    if since is not None and until is not None and until <= since:
        raise Invalid(
            "until must be after since",
            details=[{"path": "until", "message": "until must be after since"}],
        )
    window = {}
    if since is not None:
        window["since"] = format_timestamp(since)
    if until is not None:
        window["until"] = format_timestamp(until)
    return window


def _statuses(given: Sequence[str] | None, allowed: Sequence[str], path: str) -> list[str]:
    chosen = sorted(set(given or ()))
    unknown = [status for status in chosen if status not in allowed]
    if unknown:
        message = f"{path} must be among {', '.join(allowed)}, not {', '.join(unknown)}"
        raise Invalid(message, details=[{"path": path, "message": message}])
    return chosen


async def _start(
    hub: Hub, actor: Actor, kind: str, filter: dict[str, Any], via: str | None
) -> Started:
    operation, created = await hub.operations.start(kind, filter)
    if created:
        async with hub.database.transaction() as tx:
            await hub.audit(
                tx,
                actor,
                "operation.started",
                target_type="operation",
                target_id=operation.id,
                details=with_via(via, {"kind": kind, "filter": filter}),
            )
    return operation, created


async def _endpoint_id(hub: Hub, ref: str, *, by_name: bool) -> str:
    """The live endpoint's id. The API's paths and filters take ids only (``by_name`` is
    the CLI's: an id or a name), so a name there is not found, as on every other route."""
    async with hub.database.read() as connection:
        found = await find_endpoint(connection, ref)
    if found is None or (not by_name and found.id != ref):
        raise NotFound("endpoint", ref)
    return str(found.id)


async def _flow(connection: AsyncConnection, ref: str, *, by_name: bool) -> FlowRecord:
    """A flow by id, or by id or name for the CLI (``by_name``), as :func:`_endpoint_id`."""
    if by_name:
        return await flows_service.find_flow(connection, ref)
    return await flows_service.get_flow(connection, ref)


async def resend_deliveries(
    hub: Hub,
    actor: Actor,
    *,
    endpoint_id: str | None = None,
    event_type: str | None = None,
    status: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    via: str | None = None,
    by_name: bool = False,
) -> Started:
    """Send again every delivery the filter picks (``failed`` and ``exhausted`` unless
    ``status`` says otherwise), across endpoints."""
    require(actor, "write")
    filter: dict[str, Any] = _window(since, until)
    if endpoint_id is not None:
        filter["endpoint_id"] = await _endpoint_id(hub, endpoint_id, by_name=by_name)
    if event_type is not None:
        filter["event_type"] = event_type
    if chosen := _statuses(status, RESENDABLE, "status"):
        filter["status"] = chosen
    return await _start(hub, actor, resend.KIND, filter, via)


async def replay_to_endpoint(
    hub: Hub,
    actor: Actor,
    endpoint_ref: str,
    *,
    since: datetime,
    until: datetime | None = None,
    event_types: Sequence[str] | None = None,
    via: str | None = None,
    by_name: bool = False,
) -> Started:
    """Send the endpoint the stored events since ``since`` that its subscription takes and
    it has not had yet."""
    require(actor, "write")
    endpoint_id = await _endpoint_id(hub, endpoint_ref, by_name=by_name)
    filter: dict[str, Any] = {"endpoint_id": endpoint_id, **_window(since, until)}
    refuse_expired_window(hub.settings, hub.clock.now(), until, tuple(event_types or ()))
    if event_types:
        filter["event_types"] = sorted(set(event_types))
    return await _start(hub, actor, replay.ENDPOINT_KIND, filter, via)


async def replay_to_flow(
    hub: Hub,
    actor: Actor,
    flow_ref: str,
    *,
    since: datetime,
    until: datetime | None = None,
    event_types: Sequence[str] | None = None,
    via: str | None = None,
    by_name: bool = False,
) -> Started:
    """Start the flow on the stored events since ``since`` that its trigger takes and it
    has not run on yet."""
    require(actor, "write")
    async with hub.database.read() as connection:
        flow = await _flow(connection, flow_ref, by_name=by_name)
    if not flow.enabled:
        raise Conflict(f"flow {flow.id} is disabled: enable it to replay events to it")
    filter: dict[str, Any] = {"flow_id": flow.id, **_window(since, until)}
    refuse_expired_window(hub.settings, hub.clock.now(), until, tuple(event_types or ()))
    if event_types:
        filter["event_types"] = sorted(set(event_types))
    return await _start(hub, actor, replay.FLOW_KIND, filter, via)


async def rerun_flow_runs(
    hub: Hub,
    actor: Actor,
    *,
    flow_id: str | None = None,
    status: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str = "original",
    via: str | None = None,
    by_name: bool = False,
) -> Started:
    """Run again from the start every run the filter picks (``failed`` unless ``status``
    says otherwise), on the version each ran (``original``) or the flow's ``current``."""
    require(actor, "write")
    if version not in ("original", "current"):
        raise Invalid("version must be original or current", details=[{"path": "version"}])
    filter: dict[str, Any] = {**_window(since, until), "version": version}
    if flow_id is not None:
        async with hub.database.read() as connection:
            filter["flow_id"] = (await _flow(connection, flow_id, by_name=by_name)).id
    if chosen := _statuses(status, RERUNNABLE, "status"):
        filter["status"] = chosen
    return await _start(hub, actor, rerun.KIND, filter, via)


async def rerun_flow_run(
    hub: Hub,
    actor: Actor,
    flow_ref: str,
    run_id: str,
    *,
    version: str = "original",
    via: str | None = None,
    by_name: bool = False,
) -> dict[str, Any]:
    """Run one failed, stopped or skipped run of a flow (by id; or name, ``by_name``) again from the
    start, now; returns the run.
    A run that succeeded (on a rerun or not) or is under way is not rerun: 409."""
    require(actor, "write")
    if version not in ("original", "current"):
        raise Invalid("version must be original or current", details=[{"path": "version"}])
    async with hub.database.transaction() as tx:
        flow_id = (await _flow(tx, flow_ref, by_name=by_name)).id
        found = await flows_service.get_run(tx, run_id)
        if found is None or found["flow_id"] != flow_id:
            raise NotFound("run", run_id)
        if found["status"] not in RERUNNABLE:
            raise Conflict(
                f"run {run_id} is {found['status']}: only a failed, stopped or skipped run is rerun"
            )
        if not await hub.flows.rerun(
            tx, run_id, current_version=version == "current", only=RERUNNABLE
        ):
            if await get_event(tx, str(found["event_id"])) is None:
                raise Gone(
                    f"run {run_id} cannot be rerun: its event {found['event_id']} expired "
                    "(RENKEI_RETENTION_EVENTS_DAYS) or was deleted",
                    code="expired",
                    details={"run_id": run_id, "event_id": found["event_id"]},
                )
            raise Conflict(f"run {run_id} cannot be rerun: its flow or its event is gone")
        await hub.audit(
            tx,
            actor,
            "flow_run.rerun",
            target_type="flow_run",
            target_id=run_id,
            details=with_via(via, {"flow_id": flow_id, "version": version}),
        )
        rerun_run = await flows_service.get_run(tx, run_id)
    assert rerun_run is not None  # read in the transaction that reran it
    return rerun_run


async def rerun_sync_run(
    hub: Hub, actor: Actor, sync_ref: str, run_id: str, *, via: str | None = None
) -> tuple[Operation, SyncRun]:
    """Run a failed sync run's sync again: a new run (trigger ``rerun``). A run already
    rerun, whose rerun succeeded or is under way, is not rerun again: that rerun is
    returned."""
    require(actor, "write")
    sync = await hub.syncs.get(sync_ref)
    operation, new_run, created = await hub.operations.rerun_sync_run(sync.id, run_id)
    if created:
        async with hub.database.transaction() as tx:
            await hub.audit(
                tx,
                actor,
                "sync_run.rerun",
                target_type="sync_run",
                target_id=run_id,
                details=with_via(via, {"sync_id": sync.id, "run_id": new_run}),
            )
    found = await hub.syncs.get_run(new_run)
    assert found is not None  # a run is never deleted while its sync lives
    return operation, found


async def get_operation(hub: Hub, actor: Actor, operation_id: str) -> Operation:
    require(actor, "read")
    return await hub.operations.get(operation_id)


async def work_operation(
    hub: Hub, actor: Actor, operation_id: str, progress: Progress | None = None
) -> Operation:
    """Work an operation to its end in this process (the CLI, to show its progress); a
    worker taking its job meanwhile only takes turns with it."""
    require(actor, "write")
    return await hub.operations.run(operation_id, progress)
