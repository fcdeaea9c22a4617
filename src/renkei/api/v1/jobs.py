"""``/api/v1/jobs``: the queue's dead jobs, and starting one over."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.security.tokens import Principal
from renkei.usecases import jobs

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]


class DeadJobOut(BaseModel):
    id: int
    task: str
    queue: str
    state: Literal["dead"]
    attempts: int
    max_attempts: int
    error: str | None
    created_at: str
    died_at: str


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@router.get("")
async def list_jobs(
    request: Request,
    principal: Reader,
    state: Annotated[Literal["dead"], Query(description="Only dead jobs are listed.")],
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> Page[DeadJobOut]:
    """Jobs that failed for good, the latest first: the task, its error and attempts."""
    listed = await jobs.list_dead_jobs(_hub(request), principal, limit=limit, cursor=cursor)
    return Page(data=[DeadJobOut(**job) for job in listed], next_cursor=listed.next_cursor)


@router.post("/{job_id}/retry", status_code=204)
async def retry_job(job_id: int, request: Request, principal: Writer) -> Response:
    """Start a dead job over with a full set of attempts (409 when it is not dead)."""
    await jobs.retry_job(_hub(request), principal, job_id)
    return Response(status_code=204)
