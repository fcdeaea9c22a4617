"""Starting an operation and working it, batch after batch.

``start`` stores the operation with its total and enqueues ``operations.run`` in one
transaction. The job (or the CLI, in its own process, to show a progress bar) works it: each
batch locks the operation's row, reads its cursor, does the batch's work and moves the
cursor and the counts in one transaction. A crash loses at most the batch under way, which
was not committed; two workers on one operation take turns on the row lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import Conflict, NotFound
from renkei.operations import model, replay, rerun, resend
from renkei.operations.batch import BATCH_SIZE, Batch
from renkei.operations.model import Operation
from renkei.store.tables.operations import operations
from renkei.syncs import model as syncs_model
from renkei.syncs.engine import RUN_TASK as SYNC_RUN_TASK

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.delivery.service import Webhooks
    from renkei.flows.engine import FlowEngine

__all__ = ["KINDS", "RUN_TASK", "SYNC_RERUN", "OperationRunner"]

RUN_TASK = "operations.run"
SYNC_RERUN = "sync_run.rerun"

Counter = Callable[[AsyncConnection, dict[str, Any]], Awaitable[int]]
Worker = Callable[[AsyncConnection, dict[str, Any], Any, int], Awaitable[Batch]]
Progress = Callable[[Operation], None]


class OperationRunner:
    def __init__(self, hub: Core, webhooks: Webhooks, flows: FlowEngine) -> None:
        self.hub = hub

        async def resend_batch(tx: AsyncConnection, f: dict[str, Any], c: Any, n: int) -> Batch:
            return await resend.batch(webhooks, tx, f, c, n)

        async def endpoint_batch(tx: AsyncConnection, f: dict[str, Any], c: Any, n: int) -> Batch:
            return await replay.endpoint_batch(webhooks, tx, f, c, n)

        async def flow_batch(tx: AsyncConnection, f: dict[str, Any], c: Any, n: int) -> Batch:
            return await replay.flow_batch(flows, tx, f, c, n)

        async def rerun_batch(tx: AsyncConnection, f: dict[str, Any], c: Any, n: int) -> Batch:
            return await rerun.batch(flows, tx, f, c, n)

        self.kinds: dict[str, tuple[Counter, Worker]] = {
            resend.KIND: (resend.count, resend_batch),
            replay.ENDPOINT_KIND: (replay.count, endpoint_batch),
            replay.FLOW_KIND: (replay.count, flow_batch),
            rerun.KIND: (rerun.count, rerun_batch),
        }

    async def start(self, kind: str, filter: dict[str, Any]) -> tuple[Operation, bool]:
        """The new operation, enqueued, and True; or the identical one under way and False."""
        count, _ = self.kinds[kind]
        async with self.hub.database.transaction() as tx:
            under_way = await model.find_under_way(tx, model.operation_key(kind, filter))
            if under_way is not None:
                return under_way, False
            total = await count(tx, filter)
            operation = await model.create(tx, kind, filter, total=total, now=self.hub.clock.now())
            await self.hub.queue.enqueue(tx, RUN_TASK, {"o": operation.id})
        return operation, True

    async def get(self, operation_id: str) -> Operation:
        async with self.hub.database.read() as connection:
            found = await model.get(connection, operation_id)
        if found is None:
            raise NotFound("operation", operation_id)
        return found

    async def run(self, operation_id: str, progress: Progress | None = None) -> Operation:
        """Work the operation to its end (from where it stopped), batch after batch."""
        while await self._batch(operation_id):
            if progress is not None:
                progress(await self.get(operation_id))
        finished = await self.get(operation_id)
        if progress is not None:
            progress(finished)
        return finished

    async def _batch(self, operation_id: str) -> bool:
        """One batch; False when the operation is finished (now or before)."""
        async with self.hub.database.transaction() as tx:
            row = (
                await tx.execute(
                    select(operations).where(operations.c.id == operation_id).with_for_update()
                )
            ).first()
            if row is None or row.status in ("done", "failed"):
                return False
            _, work = self.kinds[row.kind]
            batch = await work(tx, dict(row.filter), row.cursor, BATCH_SIZE)
            now = self.hub.clock.now()
            values: dict[str, Any] = {"status": "running", "updated_at": now}
            if batch.cursor is None:
                values.update(status="done", finished_at=now)
            else:
                values.update(
                    cursor=batch.cursor,
                    done=operations.c.done + batch.done,
                    skipped=operations.c.skipped + batch.skipped,
                    failed=operations.c.failed + batch.failed,
                )
            await tx.execute(
                update(operations).where(operations.c.id == operation_id).values(**values)
            )
        return batch.cursor is not None

    async def fail(self, operation_id: str, error: str) -> None:
        """The run job died: the operation ends ``failed``, what it did so far kept."""
        now = self.hub.clock.now()
        async with self.hub.database.transaction() as tx:
            await tx.execute(
                update(operations)
                .where(operations.c.id == operation_id, operations.c.status.in_(model.UNDER_WAY))
                .values(status="failed", error=error[:2000], updated_at=now, finished_at=now)
            )

    async def rerun_sync_run(self, sync_id: str, run_id: str) -> tuple[Operation, str, bool]:
        """Run a failed sync run's sync again (a new run, trigger ``rerun``); returns the
        operation, the new run's id and True. A run whose earlier rerun succeeded or is
        under way is not rerun again: that rerun is returned, with False."""
        filter = {"sync_id": sync_id, "run_id": run_id}
        async with self.hub.database.transaction() as tx:
            run = await syncs_model.get_run(tx, run_id)
            if run is None or run.sync_id != sync_id:
                raise NotFound("sync run", run_id)
            earlier = await model.latest(tx, model.operation_key(SYNC_RERUN, filter))
            if earlier is not None and earlier.result is not None:
                again = await syncs_model.get_run(tx, str(earlier.result["run_id"]))
                if again is not None and again.status != "failed":
                    return earlier, again.id, False
            if run.status != "failed":
                raise Conflict(f"sync run {run_id} is {run.status}: only a failed run is rerun")
            now = self.hub.clock.now()
            new_run = await syncs_model.new_run(tx, sync_id, "rerun", now=now)
            await self.hub.queue.enqueue(tx, SYNC_RUN_TASK, {"sync_id": sync_id, "run_id": new_run})
            operation = await model.create(
                tx, SYNC_RERUN, filter, total=1, now=now, status="done", result={"run_id": new_run}
            )
        return operation, new_run, True


KINDS = (resend.KIND, replay.ENDPOINT_KIND, replay.FLOW_KIND, rerun.KIND, SYNC_RERUN)
"""Every kind of operation ``GET /api/v1/operations/{id}`` may show."""
