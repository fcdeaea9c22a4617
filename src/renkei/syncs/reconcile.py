"""The runs' reconciler: fail the unfinished sync runs that no job will finish.

A ``syncs.run`` job that fails for good fails its run through the task's ``on_dead`` hook
(``SyncEngine.job_died``). The hook does not see everything: a job whose worker died on
its last attempt is sent to dead letter by the lease reaper or the worker registry, with no
hook; a hook that met the database away is only logged; a job may vanish by a bug to come.
A run left so would show ``queued`` or ``running`` for ever. This periodic task
(``syncs.reconcile``, every ``sync_reconcile_seconds``) fails the unfinished runs (realtime runs aside: they add up a day's pushes
and have no job of their own) started more than ``sync_reconcile_seconds`` ago with no
scheduled or running ``syncs.run`` job, with the error of their dead job (``no job left``
when there is none). One statement reads the runs and the jobs, so a job finishing
meanwhile is never taken for a missing one (a run's job records the run's end before it
finishes). ``renkei_sync_runs_reconciled_total`` counts what it found: anything but 0 is
worth a look.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from prometheus_client import Counter
from sqlalchemy import select

from renkei.queue import dead_error, live_keys
from renkei.store.tables.syncs import sync_runs
from renkei.syncs import model
from renkei.syncs.engine import RUN_TASK, died
from renkei.syncs.failures import publish_run_failed

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["RECONCILED", "RECONCILE_TASK", "Reconciled", "reconcile_runs"]

RECONCILE_TASK = "syncs.reconcile"
RECONCILED = Counter(
    "renkei_sync_runs_reconciled_total",
    "Unfinished sync runs that no job would have finished, failed by the reconciler",
)
_BATCH = 500
log = structlog.get_logger("renkei.syncs.reconcile")


@dataclass(frozen=True)
class Reconciled:
    failed: int = 0
    """Runs whose job died unseen (or vanished), marked failed."""

    @property
    def total(self) -> int:
        return self.failed


async def reconcile_runs(hub: Core) -> Reconciled:
    """One pass (at most a batch); returns what it found."""
    now = hub.clock.now()
    cutoff = now - timedelta(seconds=hub.settings.sync_reconcile_seconds)
    failed = 0
    async with hub.database.transaction() as tx:
        stranded = (
            await tx.execute(
                select(sync_runs.c.id)
                .where(
                    sync_runs.c.finished_at.is_(None),
                    sync_runs.c.status.not_in(model.FINISHED),
                    sync_runs.c.trigger != "realtime",
                    sync_runs.c.started_at < cutoff,
                    sync_runs.c.id.not_in(live_keys(RUN_TASK, "run_id").scalar_subquery()),
                )
                .order_by(sync_runs.c.id)
                .limit(_BATCH)
            )
        ).all()
        for run in stranded:
            error = await dead_error(tx, RUN_TASK, {"run_id": run.id})
            reason = died(RUN_TASK, error or "no job left")
            if await model.fail_run(tx, run.id, reason, now=now):
                await publish_run_failed(hub, tx, run.id, reason)
                failed += 1
    found = Reconciled(failed=failed)
    RECONCILED.inc(found.failed)
    if found.total:
        log.warning("sync_runs.reconciled", failed=failed)
    return found
