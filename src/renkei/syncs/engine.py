"""Running syncs: what a sync moves is what its connection's connector declares
(``renkei.connectors.sync_objects``); this engine runs any of it without knowing the vendor.

- pulls (``pulls.py``): page by page, the cursor checkpointed with every page;
- pushes of profiles (``pushes.py``): the batch of a run, the realtime push of one user;
- pushes of events (``event_pushes.py``): realtime, one event at a time.

Every vendor call goes through ``hub.connectors`` (shared rate limits and the daily quota)
and is counted in the run. A limit parks the job with ``RetryLater(count_attempt=False)``;
an exhausted quota parks it until the reset.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.connections import ConnectionRow, find_connection
from renkei.connectors.errors import PermanentError, QuotaExhaustedError, RateLimitedError
from renkei.connectors.spec import OperationResult
from renkei.connectors.sync_objects import (
    PullEvents,
    PullProfiles,
    PushEvents,
    PushProfiles,
    SyncCall,
    SyncObject,
    find_sync_object,
)
from renkei.observability import tracing
from renkei.observability.metrics import SYNC_RECORDS, SYNC_RUNS
from renkei.queue import GiveUp, RetryLater
from renkei.security.redaction import redact_text
from renkei.store.tables.syncs import sync_runs, syncs
from renkei.syncs import model
from renkei.syncs.event_pushes import push_event
from renkei.syncs.failures import publish_run_failed
from renkei.syncs.model import Sync
from renkei.syncs.planner import QuotaStatus, quota_status, raise_alerts
from renkei.syncs.pulls import pull
from renkei.syncs.pushes import push_profile, push_profiles
from renkei.syncs.tally import Tally

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.core import Core

__all__ = ["PUSH_EVENT_TASK", "PUSH_PROFILE_TASK", "RUN_TASK", "SyncEngine", "died"]

log = structlog.get_logger("renkei.syncs")

RUN_TASK = "syncs.run"
PUSH_PROFILE_TASK = "syncs.push_profile"
PUSH_EVENT_TASK = "syncs.push_event"


class SyncEngine:
    def __init__(self, hub: Core, connectors: ConnectorService) -> None:
        self.hub = hub
        self.connectors = connectors
        self._realtime_runs: dict[str, tuple[datetime, str]] = {}
        self._connections: dict[str, tuple[float, ConnectionRow]] = {}

    def now(self) -> datetime:
        return self.hub.clock.now()

    # --- connections and what they declare ------------------------------------------------

    async def connection_row(self, connection: AsyncConnection | None, ref: str) -> ConnectionRow:
        """The stored connection, read at most every ``RENKEI_SYNC_REFRESH_SECONDS``: every
        realtime push and every quota check needs it."""
        now = time.monotonic()
        known = self._connections.get(ref)
        if known is not None and now - known[0] < self.hub.settings.sync_refresh_seconds:
            return known[1]
        if connection is None:
            async with self.hub.database.read() as reader:
                row = await find_connection(reader, ref)
        else:
            row = await find_connection(connection, ref)
        if row is None:
            self._connections.pop(ref, None)
            raise PermanentError(f"connection {ref!r} not found", code="connection_not_found")
        self._connections[ref] = (now, row)
        return row

    async def sync_object(
        self, sync: Sync, connection: AsyncConnection | None = None
    ) -> SyncObject | None:
        """What the sync's connector declares for its direction and object."""
        row = await self.connection_row(connection, sync.connection)
        connector = self.connectors.runtime.connector(row)
        return find_sync_object(connector, sync.direction, sync.object)

    # --- the quota planner -----------------------------------------------------------------

    async def status(
        self, connection: AsyncConnection, ref: str, sync: Sync | None = None
    ) -> QuotaStatus:
        row = await self.connection_row(connection, ref)
        quota = self.connectors.runtime.limits(row).daily_quota
        share = float((sync.config.get("quota_budget") if sync else None) or 1.0)
        return await quota_status(
            connection,
            name=row.name,
            connection_id=row.id,
            quota=quota,
            now=self.now(),
            budget_share=share,
        )

    async def _after_calls(self, ref: str) -> None:
        """The quota alerts due, in a transaction of their own (a call refused for the
        quota records nothing else)."""
        async with self.hub.database.transaction() as tx:
            status = await self.status(tx, ref)
            await raise_alerts(self.hub, tx, status)

    async def check_alerts(self, tx: AsyncConnection, sync: Sync, tally: Tally) -> None:
        """After vendor calls, in the transaction that records them: the quota alerts due."""
        if tally.counts.get("calls"):
            await raise_alerts(self.hub, tx, await self.status(tx, sync.connection))

    # --- vendor calls ----------------------------------------------------------------------

    async def call(
        self, sync: Sync, operation: str, input: Any, tally: Tally, *, calls: int = 1
    ) -> OperationResult:
        """``operation`` on the sync's connection, through the connector service; ``calls``
        (what it costs the vendor's quota) is added to the run's count."""
        try:
            row = await self.connection_row(None, sync.connection)
            result = await self.connectors.runtime.call(row, operation, input)
        except QuotaExhaustedError as exc:
            await self._after_calls(sync.connection)
            raise RetryLater(exc.message, at=exc.resets_at, count_attempt=False) from exc
        except RateLimitedError as exc:
            raise RetryLater(exc.message, delay=exc.retry_after, count_attempt=False) from exc
        tally.add("calls", calls)
        return result

    def caller(self, sync: Sync, tally: Tally) -> SyncCall:
        """:meth:`call` for a connector's read of one page."""

        async def call(operation: str, input: Any, *, calls: int = 1) -> OperationResult:
            return await self.call(sync, operation, input, tally, calls=calls)

        return call

    # --- runs ------------------------------------------------------------------------------

    async def run(self, sync_id: str, run_id: str) -> None:
        async with self.hub.database.read() as connection:
            sync = await model.find_sync(connection, sync_id)
            run = await model.get_run(connection, run_id)
        if sync is None or run is None:
            raise GiveUp(f"sync {sync_id} or run {run_id} is gone")
        if run.status in ("succeeded", "failed"):
            return
        if not tracing.ENABLED:
            return await self._run(sync, run_id)
        attributes = {"renkei.sync.id": sync.id, "renkei.sync_run.id": run_id}
        with tracing.span("renkei.sync.run", attributes=attributes) as current:
            await self._run(sync, run_id)
            tracing.set_outcome(current, "succeeded")

    async def _run(self, sync: Sync, run_id: str) -> None:
        """A run's work; its connector calls are children of its span when tracing."""
        await self.checkpoint(sync, run_id, None, Tally(), status="running")
        try:
            declared = await self.sync_object(sync)
            if isinstance(declared, PullProfiles | PullEvents):
                await pull(self, sync, run_id, declared)
            elif isinstance(declared, PushProfiles):
                await push_profiles(self, sync, run_id, declared)
            else:
                raise GiveUp(f"a {sync.direction} of {sync.object} runs only on events")
        except (PermanentError, GiveUp) as exc:
            tally = Tally()
            tally.error(str(exc))
            async with self.hub.database.transaction() as tx:
                await self.checkpoint(sync, run_id, None, tally, tx=tx, status="failed", done=True)
                await publish_run_failed(self.hub, tx, run_id, redact_text(str(exc)))
            raise GiveUp(str(exc)) from exc
        await self.checkpoint(sync, run_id, None, Tally(), status="succeeded", done=True)

    async def checkpoint(
        self,
        sync: Sync,
        run_id: str,
        cursor: dict[str, Any] | None,
        tally: Tally,
        *,
        tx: AsyncConnection | None = None,
        status: str | None = None,
        done: bool = False,
    ) -> None:
        """The cursor (when given) and the run's counts, in one transaction (``tx`` when
        given: the one that stores what the counts count)."""

        async def write(connection: AsyncConnection) -> None:
            if cursor is not None:
                await connection.execute(
                    update(syncs).where(syncs.c.id == sync.id).values(cursor=cursor)
                )
                sync.cursor = cursor
            await model.add_to_run(
                connection,
                run_id,
                tally.counts,
                tally.errors,
                status=status,
                finished_at=self.now() if done else None,
            )
            await self.check_alerts(connection, sync, tally)

        if tx is not None:
            await write(tx)
        else:
            async with self.hub.database.transaction() as own:
                await write(own)
        for outcome, count in tally.counts.items():
            SYNC_RECORDS.labels(sync.id, outcome).inc(count)
        if done and status is not None:
            SYNC_RUNS.labels(sync.id, status).inc()

    # --- realtime --------------------------------------------------------------------------

    async def push_profile(self, sync_id: str, subject: str, *, event_id: str | None) -> None:
        sync, declared = await self._realtime(sync_id)
        if not isinstance(declared, PushProfiles):
            raise GiveUp(f"a {sync.direction} of {sync.object} pushes no profiles")
        await push_profile(self, sync, declared, subject, event_id=event_id)

    async def push_event(self, sync_id: str, event_id: str) -> None:
        sync, declared = await self._realtime(sync_id)
        if not isinstance(declared, PushEvents):
            raise GiveUp(f"a {sync.direction} of {sync.object} pushes no events")
        await push_event(self, sync, declared, event_id)

    async def _realtime(self, sync_id: str) -> tuple[Sync, SyncObject | None]:
        async with self.hub.database.read() as connection:
            sync = await model.find_sync(connection, sync_id)
        if sync is None:
            raise GiveUp(f"sync {sync_id} is gone")
        return sync, await self.sync_object(sync)

    async def hold_back(self, sync: Sync, subject: str) -> None:
        """The quota is spent: the change waits for the batch after the reset."""
        from renkei.syncs.realtime import hold

        async with self.hub.database.transaction() as tx:
            await hold(self.hub, tx, sync.id, subject)

    async def realtime_run(self, tx: AsyncConnection, sync: Sync) -> str:
        """Realtime calls add up in one run per sync and UTC day (its id kept in memory)."""
        day = self.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        known = self._realtime_runs.get(sync.id)
        if known is not None and known[0] == day:
            return known[1]
        found = (
            await tx.execute(
                select(sync_runs.c.id)
                .where(
                    sync_runs.c.sync_id == sync.id,
                    sync_runs.c.trigger == "realtime",
                    sync_runs.c.started_at >= day,
                )
                .order_by(sync_runs.c.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if found is None:
            found = await model.new_run(tx, sync.id, "realtime", now=self.now())
            await model.add_to_run(tx, found, {}, [], status="running")
        self._realtime_runs[sync.id] = (day, str(found))
        return str(found)

    # --- jobs that died ---------------------------------------------------------------------

    async def job_died(self, task: str, payload: dict[str, Any], error: str) -> None:
        """The ``on_dead`` hook of the sync tasks: the job will not run again. A run's job
        fails its run with the job's error (unless the run finished meanwhile, e.g. failed
        with a permanent error); a realtime push adds a failure, and why, to the day's
        realtime run of its sync."""
        reason = died(task, error)
        async with self.hub.database.transaction() as tx:
            if task == RUN_TASK:
                run_id = str(payload["run_id"])
                if await model.fail_run(tx, run_id, reason, now=self.now()):
                    await publish_run_failed(self.hub, tx, run_id, reason)
            else:
                sync = await model.find_sync(tx, str(payload["sync_id"]))
                if sync is None:
                    return
                run_id = await self.realtime_run(tx, sync)
                entry: dict[str, Any] = {"message": reason}
                entry |= {k: str(payload[k]) for k in ("subject", "event_id") if k in payload}
                await model.add_to_run(tx, run_id, {"failed": 1}, [entry])
        log.warning("sync.job_died", task=task, payload=payload, error=reason)


def died(task: str, error: str) -> str:
    """A run's error when its job failed for good (redacted: job errors may quote URLs)."""
    return f"the {task} job failed for good: {redact_text(error)}"[:500]
