"""The runs' reconciler: find unfinished runs that no job will move, and settle them.

A start or step job that fails for good ends its run through the task's ``on_dead`` hook
(``FlowEngine.job_died``), which then starts the lane's next queued run. The hook does not
see everything: a job whose worker died on its last attempt is sent to dead letter by the
lease reaper or the worker registry, with no hook; a hook that met the database away is
only logged; a job may vanish by a bug to come. A run left so would stay ``running`` for
ever and, in a flow with a profile action, hold that person's later runs ``queued`` behind
it. This periodic task (``flows.reconcile``, every ``flow_reconcile_seconds``) looks for

- ``running``/``waiting`` runs with no scheduled or running ``flows.step`` job: failed with
  the error of their step's dead job, or, when there is none, given their step's job again;
- ``queued`` runs first in their lane (no earlier unfinished run of the flow and person)
  with no scheduled or running ``flows.start`` job: failed with the error of their dead
  start job, or given one;

last changed more than ``flow_reconcile_seconds`` ago (a job committing now is left alone).
Each failed run starts its lane's next queued run. One statement reads the runs and the
jobs, so a job finishing meanwhile is never taken for a missing one.
``renkei_flow_runs_reconciled_total{state}`` counts what it found: anything but 0 is worth
a look.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.flows.engine import START_TASK, STEP_TASK, UNFINISHED
from renkei.queue import dead_error, live_keys
from renkei.store.tables.flows import flow_runs

if TYPE_CHECKING:
    from renkei.flows.engine import FlowEngine

__all__ = ["RECONCILED", "RECONCILE_TASK", "Reconciled", "reconcile_runs"]

RECONCILE_TASK = "flows.reconcile"
RECONCILED = Counter(
    "renkei_flow_runs_reconciled_total",
    "Unfinished flow runs that no job would have moved, found by the reconciler",
    ["state"],
)
_BATCH = 500
log = structlog.get_logger("renkei.flows.reconcile")


@dataclass(frozen=True)
class Reconciled:
    failed: int = 0
    """Runs whose job died unseen, marked failed (and their lane's next run started)."""
    resumed: int = 0
    """Running or waiting runs with no job at all, given their step's job again."""
    started: int = 0
    """Queued runs first in their lane with no job at all, given a start job."""

    @property
    def total(self) -> int:
        return self.failed + self.resumed + self.started


def _first_in_lane() -> Any:
    earlier = flow_runs.alias("earlier")
    return ~(
        select(earlier.c.id)
        .where(
            earlier.c.flow_id == flow_runs.c.flow_id,
            earlier.c.lane == flow_runs.c.lane,
            earlier.c.id < flow_runs.c.id,
            earlier.c.finished_at.is_(None),
            earlier.c.status.in_(UNFINISHED),
        )
        .exists()
    )


async def reconcile_runs(engine: FlowEngine) -> Reconciled:
    """One pass (at most a batch of each kind); returns what it found."""
    hub = engine.hub
    cutoff = hub.clock.now() - timedelta(seconds=hub.settings.flow_reconcile_seconds)
    failed = resumed = started = 0
    async with hub.database.transaction() as tx:
        stranded = (
            await tx.execute(
                select(flow_runs.c.id, flow_runs.c.node)
                .where(
                    flow_runs.c.finished_at.is_(None),
                    flow_runs.c.status.in_(("running", "waiting")),
                    flow_runs.c.updated_at < cutoff,
                    flow_runs.c.id.not_in(live_keys(STEP_TASK, "r").scalar_subquery()),
                )
                .order_by(flow_runs.c.id)
                .limit(_BATCH)
            )
        ).all()
        for run in stranded:
            match: dict[str, str | int] = {"r": run.id}
            if run.node is not None:
                match["n"] = int(run.node)
            error = await dead_error(tx, STEP_TASK, match)
            if error is not None or run.node is None:
                what = "step" if run.node is None else await engine.step_name(run.id, run.node)
                reason = f"the {what} job failed for good: {error or 'no job left'}"
                failed += await engine.end_run(
                    tx, run.id, reason, node=run.node, only=("running", "waiting")
                )
            else:
                await _resume(engine, tx, run.id, run.node, hub.clock.now())
                resumed += 1
    async with hub.database.transaction() as tx:
        heads = (
            await tx.execute(
                select(
                    flow_runs.c.id, flow_runs.c.flow_id, flow_runs.c.version, flow_runs.c.event_id
                )
                .where(
                    flow_runs.c.finished_at.is_(None),
                    flow_runs.c.status == "queued",
                    flow_runs.c.updated_at < cutoff,
                    and_(flow_runs.c.lane.is_not(None), _first_in_lane()),
                    flow_runs.c.id.not_in(live_keys(START_TASK, "r").scalar_subquery()),
                )
                .order_by(flow_runs.c.id)
                .limit(_BATCH)
            )
        ).all()
        for head in heads:
            error = await dead_error(tx, START_TASK, {"r": head.id})
            if error is not None:
                reason = f"the start job failed for good: {error}"
                failed += await engine.end_run(tx, head.id, reason, only=("queued",))
                continue
            payload = {"f": head.flow_id, "v": head.version, "e": head.event_id, "r": head.id}
            started += await hub.queue.enqueue(tx, START_TASK, payload, dedupe_key=head.id)
    found = Reconciled(failed=failed, resumed=resumed, started=started)
    for state in ("failed", "resumed", "started"):
        RECONCILED.labels(state).inc(getattr(found, state))
    if found.total:
        log.warning("flow_runs.reconciled", failed=failed, resumed=resumed, started=started)
    return found


async def _resume(
    engine: FlowEngine, tx: AsyncConnection, run_id: str, node: int, now: datetime
) -> None:
    """The step's job is gone without a trace: run the step again (at least once)."""
    await engine.hub.queue.enqueue(tx, STEP_TASK, {"r": run_id, "n": node})
    await tx.execute(
        flow_runs.update()
        .where(flow_runs.c.id == run_id, flow_runs.c.node == node)
        .values(updated_at=now)
    )
