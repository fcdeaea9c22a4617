"""Dead queue jobs: list them, start one over."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.errors import Conflict, NotFound, RenkeiError
from renkei.events.envelope import format_timestamp
from renkei.queue import dead_jobs
from renkei.security.redaction import redact_text
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["list_dead_jobs", "retry_job"]


def _job_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "task": row.task,
        "queue": row.queue,
        "state": "dead",
        "attempts": row.attempts,
        "max_attempts": row.max_attempts,
        "error": None if row.last_error is None else redact_text(row.last_error),
        "created_at": format_timestamp(row.created_at),
        "died_at": format_timestamp(row.updated_at),
    }


async def list_dead_jobs(
    hub: Hub, actor: Actor, *, limit: int | None = None, cursor: str | None = None
) -> Listed[dict[str, Any]]:
    """Jobs that failed for good, the latest first."""
    require(actor, "read")
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    if before is not None and (not isinstance(before, int) or isinstance(before, bool)):
        raise RenkeiError("cursor is not valid", code="invalid_cursor")
    async with hub.database.read() as connection:
        rows = await dead_jobs(connection, limit=size + 1, before_id=before)
    return Listed.cut([_job_dict(row) for row in rows], size, lambda job: job["id"])


async def retry_job(hub: Hub, actor: Actor, job_id: int, *, via: str | None = None) -> None:
    """Start a dead job over with a full set of attempts."""
    require(actor, "write")
    if not 0 < job_id < 2**63:
        # No job id is beyond a 64-bit column; asking the database would overflow.
        raise NotFound("job", str(job_id))
    if not await hub.queue.retry_dead(job_id):
        job = await hub.queue.get(job_id)
        if job is None:
            raise NotFound("job", str(job_id))
        raise Conflict(
            f"job {job_id} is {job.status}: only a dead job is retried"
            if job.status != "dead"
            else f"a job like {job_id} is already waiting to run"
        )
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            actor,
            "job.retried",
            target_type="job",
            target_id=str(job_id),
            details=with_via(via),
        )
