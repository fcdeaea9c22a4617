"""Run it again: reruns of flow runs and sync runs, resends by a filter, replays of stored
events to an endpoint or a flow, and the progress of these bulk operations
(``/api/v1/operations/{id}``). Bulk operations answer 202 with the operation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from renkei.api.auth import require
from renkei.api.times import UtcDatetime
from renkei.operations import Operation
from renkei.security.tokens import Principal
from renkei.usecases import operations

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(tags=["operations"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]

Version = Literal["original", "current"]
_VERSION_DOC = "Rerun on the version the run ran (original) or on the flow's current one."


class OperationOut(BaseModel):
    id: str
    kind: str
    status: Literal["pending", "running", "done", "failed"]
    total: int = Field(description="Items the filter picked when the operation started.")
    done: int = Field(description="Items handled so far, the skipped and failed included.")
    skipped: int = Field(description="Nothing to do: already sent, already succeeded.")
    failed: int = Field(description="Could not be done (a disabled endpoint, a gone event).")
    filter: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str
    finished_at: str | None = None


class RerunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version = Field("original", description=_VERSION_DOC)


class RerunManyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow_id: str | None = Field(None, max_length=200, description="A flow's id or name.")
    status: list[Literal["failed", "stopped", "skipped"]] | None = Field(
        None, max_length=3, description="Runs in these statuses (default: failed)."
    )
    since: UtcDatetime | None = Field(None, description="Runs started at or after.")
    until: UtcDatetime | None = Field(None, description="Runs started before.")
    version: Version = Field("original", description=_VERSION_DOC)


class ResendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: str | None = Field(None, max_length=200, description="An endpoint's id or name.")
    event_type: str | None = Field(None, max_length=200)
    status: list[Literal["failed", "exhausted", "succeeded", "cancelled"]] | None = Field(
        None, max_length=4, description="Deliveries in these statuses (default: failed, exhausted)."
    )
    since: UtcDatetime | None = Field(None, description="Deliveries created at or after.")
    until: UtcDatetime | None = Field(None, description="Deliveries created before.")


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: UtcDatetime = Field(description="Events received at or after.")
    until: UtcDatetime | None = Field(None, description="Events received before.")
    event_types: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None, max_length=100, description="Only these types (and still the target's own)."
    )


_AGAIN: dict[int | str, dict[str, Any]] = {
    200: {"model": OperationOut, "description": "The identical operation already under way."}
}
_AGAIN_OR_UNKNOWN: dict[int | str, dict[str, Any]] = {**_AGAIN, 404: {}}


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _answer(response: Response, started: tuple[Operation, bool]) -> OperationOut:
    operation, created = started
    response.status_code = 202 if created else 200
    return OperationOut(**operation.to_dict())


@router.post("/api/v1/flows/{flow_id}/runs/{run_id}/rerun", status_code=202, tags=["flows"])
async def rerun_flow_run(
    flow_id: str, run_id: str, request: Request, principal: Writer, body: RerunIn | None = None
) -> dict[str, Any]:
    """Run a failed, stopped or skipped run again from its first step; answers the run.
    A run that succeeded or is under way is not rerun (409)."""
    version = body.version if body else "original"
    return await operations.rerun_flow_run(
        _hub(request), principal, flow_id, run_id, version=version
    )


@router.post(
    "/api/v1/flow-runs/rerun",
    status_code=202,
    tags=["flows"],
    responses=_AGAIN_OR_UNKNOWN,
)
async def rerun_flow_runs(
    request: Request, response: Response, principal: Writer, body: RerunManyIn
) -> OperationOut:
    """Rerun every run the filter picks, as an operation. An identical operation (same
    filter) still under way is answered instead of a second one, with 200."""
    started = await operations.rerun_flow_runs(
        _hub(request),
        principal,
        flow_id=body.flow_id,
        status=body.status,
        since=body.since,
        until=body.until,
        version=body.version,
    )
    return _answer(response, started)


@router.post("/api/v1/syncs/{ref}/runs/{run_id}/rerun", status_code=202, tags=["syncs"])
async def rerun_sync_run(
    ref: str, run_id: str, request: Request, principal: Writer
) -> dict[str, Any]:
    """Run a failed run's sync again: answers the new run, with ``operation_id``. A run
    already rerun, whose rerun succeeded or is under way, answers that rerun."""
    operation, run = await operations.rerun_sync_run(_hub(request), principal, ref, run_id)
    return {**run.to_dict(), "operation_id": operation.id}


@router.post(
    "/api/v1/deliveries/resend",
    status_code=202,
    tags=["deliveries"],
    responses=_AGAIN_OR_UNKNOWN,
)
async def resend_deliveries(
    request: Request, response: Response, principal: Writer, body: ResendIn
) -> OperationOut:
    """Send again every delivery the filter picks, across endpoints, as an operation. An
    identical operation still under way is answered instead of a second one, with 200."""
    started = await operations.resend_deliveries(
        _hub(request),
        principal,
        endpoint_id=body.endpoint_id,
        event_type=body.event_type,
        status=body.status,
        since=body.since,
        until=body.until,
    )
    return _answer(response, started)


@router.post(
    "/api/v1/endpoints/{endpoint_id}/replay",
    status_code=202,
    tags=["endpoints"],
    responses=_AGAIN,
)
async def replay_to_endpoint(
    endpoint_id: str, request: Request, response: Response, principal: Writer, body: ReplayIn
) -> OperationOut:
    """Send the endpoint the stored events its subscription takes, as if they had just
    arrived; each at most once (an event it already has is skipped). An identical replay
    still under way is answered instead of a second one, with 200."""
    started = await operations.replay_to_endpoint(
        _hub(request),
        principal,
        endpoint_id,
        since=body.since,
        until=body.until,
        event_types=body.event_types,
    )
    return _answer(response, started)


@router.post(
    "/api/v1/flows/{flow_id}/replay",
    status_code=202,
    tags=["flows"],
    responses=_AGAIN,
)
async def replay_to_flow(
    flow_id: str, request: Request, response: Response, principal: Writer, body: ReplayIn
) -> OperationOut:
    """Start the flow on the stored events its trigger takes; each at most once (an event
    it already ran on is skipped). An identical replay still under way is answered
    instead of a second one, with 200."""
    started = await operations.replay_to_flow(
        _hub(request),
        principal,
        flow_id,
        since=body.since,
        until=body.until,
        event_types=body.event_types,
    )
    return _answer(response, started)


@router.get("/api/v1/operations/{operation_id}")
async def get_operation(operation_id: str, request: Request, principal: Reader) -> OperationOut:
    operation = await operations.get_operation(_hub(request), principal, operation_id)
    return OperationOut(**operation.to_dict())
