"""The flow engine: trigger matching in the event's transaction, then one job per step.

::

    record_events ──fan-out──► flows.start {flow, version, event}      (same transaction)
    flows.start: profile filter, re-eligibility, run row ──► flows.step {run, node 0}
    flows.step:  run node n, record it, update the run ──► flows.step {run, next}
                 (a delay enqueues the next node with run_at = the wake-up time)

A flow that updates profiles (a ``profile`` action) is *ordered*: one person's runs of it
go one after another, in the order their events were stored (SDKs send a person's calls in
one batch, whose runs would otherwise start together and read and write the profile in any
order). Fan-out stores such a run ``queued`` with its ``lane`` (the person: user id, else
email, else anonymous id); ``flows.start`` starts it only when no earlier run of the lane is
unfinished, and a run that finishes enqueues the start of the next queued run of its lane,
in the transaction that records the end (on every backend alike: the one who misses
the other's commit is always the one who acts after it).

A run is pinned to the version it started on, so editing a flow never changes a run under
way. Each step job is retried on the queue's schedule when an action fails in a way that
may pass (a 5xx, a timeout, a 429 with its Retry-After); anything else fails the run with
the reason recorded.

No run is left without a job to move it: when a start or step job fails for good (an
unexpected exception past its retries), the task's ``on_dead`` hook marks the run ``failed``
with the job's error and starts the lane's next queued run (:meth:`FlowEngine.job_died`);
the ``flows.reconcile`` periodic (reconcile.py) finds what the hook cannot see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import Event, format_timestamp
from renkei.events.history import event_dict, get_event
from renkei.events.suppressions import SUPPRESSION_KINDS, suppression_set
from renkei.expr.paths import MISSING
from renkei.flows.catalog import FlowCatalog
from renkei.flows.effects import LiveEffects, StepFailed
from renkei.flows.failures import publish_run_failed
from renkei.flows.http import HttpSender
from renkei.flows.reeligibility import enter, storable_key
from renkei.flows.scope import default_user_key, load_profile
from renkei.flows.service import runs_for_event
from renkei.flows.spec import CompiledFlow
from renkei.flows.steps import Outcome, RunState, execute
from renkei.ids import new_id
from renkei.observability import tracing
from renkei.observability.metrics import FLOW_RUNS
from renkei.queue import JobContext, NewJob, RetryLater
from renkei.security.redaction import redact, redact_text
from renkei.store.statements import insert_ignoring, upsert
from renkei.store.tables.flows import flow_run_steps, flow_runs, flows

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.core import Core
    from renkei.delivery.service import Webhooks

__all__ = ["START_TASK", "STEP_TASK", "UNFINISHED", "FlowEngine"]

log = structlog.get_logger("renkei.flows")

START_TASK = "flows.start"
STEP_TASK = "flows.step"
QUEUE = "flows"
_FINISHED = ("succeeded", "stopped", "failed", "skipped")
UNFINISHED = ("queued", "running", "waiting")
_MAX_ERROR = 2000


class _Retry(Exception):
    """A step failed in a way that may pass: retry on the queue's schedule."""


@dataclass(frozen=True)
class _FlowRow:
    id: str
    name: str
    secret: str


class FlowEngine:
    def __init__(self, hub: Core, *, webhooks: Webhooks, connectors: ConnectorService) -> None:
        self.hub = hub
        self.webhooks = webhooks  # endpoint actions deliver through it
        self.connectors = connectors  # connector actions submit through it
        self.catalog = FlowCatalog(hub)
        self.sender = HttpSender(hub.settings, timeout=hub.settings.flow_http_timeout_seconds)
        self.effects = LiveEffects(hub, self.sender, webhooks, connectors)

    async def close(self) -> None:
        await self.sender.close()

    async def runs_for_event(
        self, connection: AsyncConnection, event_id: str
    ) -> list[dict[str, Any]]:
        """The runs an event started, with their steps: the event detail's ``flow_runs``."""
        return await runs_for_event(connection, event_id)

    # -- fan-out ---------------------------------------------------------------------------

    async def fan_out(
        self, connection: AsyncConnection, events: Sequence[Any], *, only_flow: str | None = None
    ) -> int:
        """The ``hub.fanout`` handler: one start job per (matching flow, event). A replay
        (``only_flow``) starts that flow only, as if the events had just arrived."""
        live = await self.catalog.snapshot(connection)
        if not live.flows:
            return 0
        jobs: list[NewJob] = []
        queued: list[dict[str, Any]] = []
        now = self.hub.clock.now()
        for event in events:
            if not isinstance(event, Event):
                continue
            document: dict[str, Any] | None = None
            for flow in live.candidates(event.type):
                if only_flow is not None and flow.id != only_flow:
                    continue
                trigger = flow.compiled.trigger
                if event.source_id == flow.id or not trigger.accepts_type(event.type, event.name):
                    continue
                if trigger.filter is not None and not trigger.needs_profile:
                    document = document or {"event": event.to_dict(), "profile": {}}
                    if not trigger.filter.matches(document):
                        continue
                payload = {"f": flow.id, "v": flow.version, "e": event.id}
                lane = _lane(event) if flow.compiled.ordered else None
                if lane is None:
                    jobs.append(NewJob(START_TASK, payload))
                    continue
                # Ids sort in creation order: the lane's order is the order events were stored.
                run_id = new_id("run")
                queued.append(
                    {
                        "id": run_id,
                        "flow_id": flow.id,
                        "version": flow.version,
                        "event_id": event.id,
                        "lane": lane,
                        "status": "queued",
                        "context": {},
                        "started_at": now,
                        "updated_at": now,
                    }
                )
                jobs.append(NewJob(START_TASK, {**payload, "r": run_id}, dedupe_key=run_id))
        if queued:
            await connection.execute(insert_ignoring(connection, flow_runs), queued)
        if jobs:
            await self.hub.queue.enqueue_many(connection, jobs)
        return len(jobs)

    # -- starting a run --------------------------------------------------------------------

    async def start(self, payload: dict[str, Any]) -> str | None:
        """Check the profile filter and re-eligibility, create the run; returns its id.

        A queued run (``payload["r"]``, an ordered flow) starts only when its lane's earlier
        runs have finished; otherwise it stays queued, and the run before it, finishing,
        enqueues this start again."""
        hub = self.hub
        flow_id, version = str(payload["f"]), int(payload["v"])
        queued_id = str(payload["r"]) if "r" in payload else None
        async with hub.database.read() as connection:
            if queued_id is not None and not await self._may_start(connection, queued_id):
                return None
            event = await _triggering_event(connection, payload)
            if event is not None:
                compiled = await self.catalog.version(connection, flow_id, version)
                profile = await load_profile(connection, event)
                depth = await self._depth(connection, event)
        if event is None:
            if queued_id is not None:
                # Left queued, it would hold the lane's later runs back for ever.
                async with hub.database.transaction() as tx:
                    await self.end_run(
                        tx,
                        queued_id,
                        f"the event {payload['e']} no longer exists",
                        status="skipped",
                        only=("queued",),
                    )
            return None
        now = hub.clock.now()
        reason = None
        trigger = compiled.trigger
        document = {"event": event, "profile": profile or {}}
        if trigger.needs_profile and trigger.filter and not trigger.filter.matches(document):
            reason = "the trigger filter does not match the profile"
        if depth > hub.settings.flow_max_depth:
            reason = f"flows published events {depth} levels deep; stopped to break a loop"
        key = self._user_key(compiled, event, profile)
        run_id = new_id("run")
        context = {"event": event, "data": event.get("data"), "steps": {}, "depth": depth}
        async with hub.database.transaction() as tx:
            if queued_id is not None:
                run_id = queued_id
                created = await tx.execute(
                    update(flow_runs)
                    .where(flow_runs.c.id == run_id, flow_runs.c.status == "queued")
                    .where(~_earlier_unfinished(run_id))
                    .values(
                        user_key=storable_key(key) if key else None,
                        status="running",
                        node=compiled.first,
                        context=context,
                        started_at=now,
                        updated_at=now,
                    )
                    .returning(flow_runs.c.id)
                )
            else:
                created = await tx.execute(
                    insert_ignoring(tx, flow_runs)
                    .values(
                        id=run_id,
                        flow_id=flow_id,
                        version=version,
                        event_id=str(event["id"]),
                        user_key=storable_key(key) if key else None,
                        status="running",
                        node=compiled.first,
                        context=context,
                        started_at=now,
                        updated_at=now,
                    )
                    .returning(flow_runs.c.id)
                )
            if created.first() is None:
                return None
            rule = compiled.reeligibility
            if reason is None and rule.mode != "always" and key:
                eligible = await enter(
                    tx,
                    flow_id=flow_id,
                    key=key,
                    rule=rule,
                    now=now,
                )
                if not eligible:
                    window = "" if rule.mode == "once" else f" in the last {rule.hours:g} h"
                    reason = f"not re-eligible: {key} already entered this flow{window}"
            if reason is not None:
                await tx.execute(
                    update(flow_runs)
                    .where(flow_runs.c.id == run_id)
                    .values(status="skipped", error=reason, node=None, finished_at=now)
                )
                await self._next_in_lane(tx, run_id)
                return run_id
            await hub.queue.enqueue(tx, STEP_TASK, {"r": run_id, "n": compiled.first})
        return run_id

    async def rerun(
        self, tx: AsyncConnection, run_id: str, *, current_version: bool, only: Sequence[str]
    ) -> bool:
        """Run a run again from its first step, on the version it ran (or the flow's current
        one), if its status is in ``only`` when the update runs: two reruns never both start
        it, and a run that succeeded meanwhile is left alone. Its steps are recorded afresh;
        re-eligibility is not asked again (the person entered already). False when it was
        not rerun (gone, moved on, its flow or event deleted)."""
        run = (
            await tx.execute(
                select(flow_runs.c.flow_id, flow_runs.c.version, flow_runs.c.event_id)
                .add_columns(flow_runs.c.context)
                .where(flow_runs.c.id == run_id, flow_runs.c.status.in_(only))
            )
        ).first()
        if run is None:
            return False
        version = run.version
        if current_version:
            version = (
                await tx.execute(
                    select(flows.c.version).where(
                        flows.c.id == run.flow_id, flows.c.deleted_at.is_(None)
                    )
                )
            ).scalar()
            if version is None:
                return False
        # A scheduled run's event is in its context only; others are read from the log.
        stored = run.context.get("event") if isinstance(run.context, dict) else None
        event = dict(stored) if stored else await _triggering_event(tx, {"e": run.event_id})
        if event is None:
            return False
        compiled = await self.catalog.version(tx, run.flow_id, version)
        depth = await self._depth(tx, event)
        now = self.hub.clock.now()
        moved = await tx.execute(
            update(flow_runs)
            .where(flow_runs.c.id == run_id, flow_runs.c.status.in_(only))
            .values(
                version=version,
                status="running",
                node=compiled.first,
                context={"event": event, "data": event.get("data"), "steps": {}, "depth": depth},
                error=None,
                started_at=now,
                updated_at=now,
                finished_at=None,
            )
        )
        if moved.rowcount != 1:
            return False
        await tx.execute(delete(flow_run_steps).where(flow_run_steps.c.run_id == run_id))
        await self.hub.queue.enqueue(tx, STEP_TASK, {"r": run_id, "n": compiled.first})
        return True

    async def _may_start(self, connection: AsyncConnection, run_id: str) -> bool:
        row = (
            await connection.execute(select(flow_runs.c.status).where(flow_runs.c.id == run_id))
        ).first()
        if row is None or row.status != "queued":
            return False  # a duplicate start job
        blocked = (await connection.execute(select(_earlier_unfinished(run_id)))).scalar()
        return not blocked

    async def _next_in_lane(self, tx: AsyncConnection, run_id: str) -> None:
        """A run ended: enqueue the start of the next queued run of its lane, if any."""
        run = (
            await tx.execute(
                select(flow_runs.c.flow_id, flow_runs.c.lane).where(flow_runs.c.id == run_id)
            )
        ).first()
        if run is None or run.lane is None:
            return
        following = (
            await tx.execute(
                select(flow_runs.c.id, flow_runs.c.version, flow_runs.c.event_id)
                .where(
                    flow_runs.c.flow_id == run.flow_id,
                    flow_runs.c.lane == run.lane,
                    flow_runs.c.status == "queued",
                )
                .order_by(flow_runs.c.id)
                .limit(1)
            )
        ).first()
        if following is not None:
            await self.hub.queue.enqueue(
                tx,
                START_TASK,
                {
                    "f": run.flow_id,
                    "v": following.version,
                    "e": following.event_id,
                    "r": following.id,
                },
                dedupe_key=following.id,
            )

    # -- jobs that died -----------------------------------------------------------------

    async def job_died(self, task: str, payload: dict[str, Any], error: str) -> None:
        """The ``on_dead`` hook of ``flows.start`` and ``flows.step``: the job will not run
        again, so its run must not wait for it. The run fails with the job's error (a start
        job of an unordered flow, which had no run yet, leaves a failed one) and the lane's
        next queued run starts."""
        hub = self.hub
        what = "start"
        if task == STEP_TASK:
            what = await self.step_name(str(payload["r"]), int(payload["n"]))
        reason = f"the {what} job failed for good: {error}"
        async with hub.database.transaction() as tx:
            if task == STEP_TASK:
                await self.end_run(tx, str(payload["r"]), reason, node=int(payload["n"]))
            elif "r" in payload:
                await self.end_run(tx, str(payload["r"]), reason, only=("queued",))
            else:
                await self._failed_start(tx, payload, reason)
        log.warning("flow.job_died", task=task, payload=payload, error=_clip(error))

    async def step_name(self, run_id: str, node: int) -> str:
        """``step <id>`` as the run's steps name it (``step at node <n>`` if unreadable)."""
        try:
            async with self.hub.database.read() as connection:
                run = (
                    await connection.execute(
                        select(flow_runs.c.flow_id, flow_runs.c.version).where(
                            flow_runs.c.id == run_id
                        )
                    )
                ).first()
                if run is not None:
                    compiled = await self.catalog.version(connection, run.flow_id, run.version)
                    return f"step {compiled.nodes[node].id}"
        except Exception:  # the job died of this, maybe: the reason must still be recorded
            log.warning("flow.step_name_unreadable", run_id=run_id, node=node, exc_info=True)
        return f"step at node {node}"

    async def end_run(
        self,
        tx: AsyncConnection,
        run_id: str,
        reason: str,
        *,
        status: str = "failed",
        node: int | None = None,
        only: Sequence[str] = UNFINISHED,
    ) -> bool:
        """End a run no job will move (``failed`` with ``reason``, or ``skipped``) if it is
        still unfinished (in ``only``, and at ``node`` when given), then enqueue the start of
        the lane's next queued run. False when the run had moved on meanwhile."""
        now = self.hub.clock.now()
        reason = _clip(redact_text(reason))
        statement = update(flow_runs).where(flow_runs.c.id == run_id, flow_runs.c.status.in_(only))
        if node is not None:
            statement = statement.where(flow_runs.c.node == node)
        moved = await tx.execute(
            statement.values(
                status=status, error=reason, node=None, updated_at=now, finished_at=now
            )
        )
        if moved.rowcount != 1:
            return False
        if node is not None:
            # A step that recorded a retry shows that it failed, and why.
            await tx.execute(
                update(flow_run_steps)
                .where(
                    flow_run_steps.c.run_id == run_id,
                    flow_run_steps.c.node == node,
                    flow_run_steps.c.status == "retrying",
                )
                .values(status="failed", error=reason, finished_at=now)
            )
        if status == "failed":
            await publish_run_failed(self.hub, tx, run_id, reason)
        await self._next_in_lane(tx, run_id)
        return True

    async def _failed_start(
        self, tx: AsyncConnection, payload: dict[str, Any], reason: str
    ) -> None:
        """A run of an unordered flow that never started: recorded failed, so the event's
        runs (and the flow's) show what happened to it."""
        event_id = payload.get("e") or dict(payload.get("event") or {}).get("id")
        if event_id is None:
            return
        now = self.hub.clock.now()
        run_id = new_id("run")
        inserted = await tx.execute(
            insert_ignoring(tx, flow_runs).values(
                id=run_id,
                flow_id=str(payload["f"]),
                version=int(payload["v"]),
                event_id=str(event_id),
                status="failed",
                context={},
                error=_clip(redact_text(reason)),
                started_at=now,
                updated_at=now,
                finished_at=now,
            )
        )
        if inserted.rowcount == 1:
            await publish_run_failed(self.hub, tx, run_id, reason)

    def _user_key(
        self, compiled: CompiledFlow, event: dict[str, Any], profile: dict[str, Any] | None
    ) -> str | None:
        rule = compiled.reeligibility
        if rule.key is None:
            return default_user_key(event)
        scope = {"event": event, "data": event.get("data"), "profile": profile or {}}
        try:
            value = rule.key(scope)
        except Exception:
            return default_user_key(event)
        text = "" if value is None or value is MISSING else str(value).strip()
        return text or None

    async def _depth(self, connection: AsyncConnection, event: dict[str, Any]) -> int:
        """How many flows published the chain of events leading to this one."""
        source = event.get("source_id") or ""
        event_id = str(event.get("id", ""))
        if not str(source).startswith("flow_") or "." not in event_id:
            return 0
        parent = (
            await connection.execute(
                select(flow_runs.c.context).where(flow_runs.c.id == event_id.split(".", 1)[0])
            )
        ).scalar()
        depth = parent.get("depth", 0) if isinstance(parent, dict) else 0
        return int(depth) + 1

    # -- running a step --------------------------------------------------------------------

    async def step(self, ctx: JobContext) -> None:
        hub = self.hub
        run_id, node_index = str(ctx.payload["r"]), int(ctx.payload["n"])
        async with hub.database.read() as connection:
            run = (
                await connection.execute(select(flow_runs).where(flow_runs.c.id == run_id))
            ).first()
            if run is None or run.status in _FINISHED or run.node != node_index:
                return  # a duplicate job, or a run already past this node
            compiled = await self.catalog.version(connection, run.flow_id, run.version)
            flow = await self._flow(connection, run.flow_id)
            context = dict(run.context)
            event = context["event"]
            profile = await load_profile(connection, event)
            keys = [(k, v) for k in SUPPRESSION_KINDS if isinstance(v := event.get(k), str) and v]
            suppressed = bool(keys) and await suppression_set(hub).is_suppressed(connection, keys)
        node = compiled.nodes[node_index]
        now = hub.clock.now()
        state = RunState(
            flow_id=run.flow_id,
            flow_name=flow.name,
            version=run.version,
            run_id=run_id,
            started_at=format_timestamp(run.started_at),
            event=event,
            data=context.get("data"),
            steps=dict(context.get("steps", {})),
            profile=profile,
            now=now,
            signing_secret=flow.secret,
        )
        if suppressed:  # suppressed since the run started: nothing more is sent about them
            outcome = Outcome("stopped", None, {"suppressed": True})
            return await self._record(
                run_id, node, state, outcome, ctx.job.attempts, flow.secret, context
            )
        if not tracing.ENABLED:
            return await self._run_step(ctx, run_id, node, state, flow, context)
        attributes = {
            "renkei.flow.id": run.flow_id,
            "renkei.flow.version": run.version,
            "renkei.flow_run.id": run_id,
            "renkei.flow.step": node.id,
            "renkei.flow.step_kind": node.kind,
            "renkei.attempt": ctx.job.attempts,
        }
        with tracing.span("renkei.flow.step", event_id=event["id"], attributes=attributes):
            await self._run_step(ctx, run_id, node, state, flow, context)

    async def _run_step(
        self,
        ctx: JobContext,
        run_id: str,
        node: Any,
        state: RunState,
        flow: _FlowRow,
        context: dict[str, Any],
    ) -> None:
        try:
            outcome = await execute(node, state, self.effects)
        except StepFailed as exc:
            last = ctx.job.is_last_attempt
            status = "retrying" if exc.retry and not last else "failed"
            if tracing.ENABLED:
                tracing.set_outcome(tracing.current_span(), status, str(exc))
            await self._record_failure(
                run_id, node, state, exc, status, ctx.job.attempts, flow.secret
            )
            if status == "retrying":
                if exc.retry_at is not None:
                    raise RetryLater(str(exc), at=exc.retry_at) from exc
                raise _Retry(str(exc)) from exc
            return
        if tracing.ENABLED:
            tracing.set_outcome(tracing.current_span(), outcome.status)
        await self._record(run_id, node, state, outcome, ctx.job.attempts, flow.secret, context)

    async def _flow(self, connection: AsyncConnection, flow_id: str) -> _FlowRow:
        row = (
            await connection.execute(
                select(flows.c.id, flows.c.name, flows.c.signing_secret).where(
                    flows.c.id == flow_id
                )
            )
        ).first()
        if row is None:
            raise LookupError(f"flow {flow_id} does not exist")
        secret = self.hub.keyring.decrypt(row.signing_secret, context="flows.signing_secret")
        return _FlowRow(row.id, row.name, secret)

    async def _record(
        self,
        run_id: str,
        node: Any,
        state: RunState,
        outcome: Outcome,
        attempts: int,
        secret: str,
        context: dict[str, Any],
    ) -> None:
        hub = self.hub
        now = hub.clock.now()
        steps = dict(state.steps)
        steps[node.id] = outcome.output
        data = state.data if outcome.data is MISSING else outcome.data
        finished = outcome.next is None or outcome.status == "stopped"
        if outcome.status == "stopped":
            run_status = "stopped"
        elif finished:
            run_status = "succeeded"
        elif outcome.wait_until is not None:
            run_status = "waiting"
        else:
            run_status = "running"
        step_row = {
            "run_id": run_id,
            "node": node.index,
            "step_id": node.id,
            "kind": node.kind,
            "status": outcome.status,
            "attempts": attempts,
            "input": _safe(
                outcome.input if outcome.input is not None else {"data": state.data}, secret
            ),
            "output": _safe(outcome.output, secret),
            "problems": _safe(outcome.problems, secret) or None,
            "error": None,
            "started_at": state.now,
            "finished_at": now,
        }
        async with hub.database.transaction() as tx:
            await self._upsert_step(tx, step_row)
            moved = await tx.execute(
                update(flow_runs)
                .where(flow_runs.c.id == run_id, flow_runs.c.node == node.index)
                .values(
                    status=run_status,
                    node=None if finished else outcome.next,
                    context={**context, "data": data, "steps": steps},
                    updated_at=now,
                    finished_at=now if finished else None,
                )
            )
            if moved.rowcount == 1 and not finished:
                await hub.queue.enqueue(
                    tx, STEP_TASK, {"r": run_id, "n": outcome.next}, run_at=outcome.wait_until
                )
            elif moved.rowcount == 1:
                await self._next_in_lane(tx, run_id)
        if finished and moved.rowcount == 1:
            FLOW_RUNS.labels(state.flow_id, run_status).inc()

    async def _record_failure(
        self,
        run_id: str,
        node: Any,
        state: RunState,
        exc: StepFailed,
        status: str,
        attempts: int,
        secret: str,
    ) -> None:
        hub = self.hub
        now = hub.clock.now()
        error = str(exc)
        step_row = {
            "run_id": run_id,
            "node": node.index,
            "step_id": node.id,
            "kind": node.kind,
            "status": status,
            "attempts": attempts,
            "input": _safe({"data": state.data}, secret),
            "output": _safe(exc.output, secret),
            "problems": None,
            "error": _safe(error, secret),
            "started_at": state.now,
            "finished_at": now,
        }
        async with hub.database.transaction() as tx:
            await self._upsert_step(tx, step_row)
            values: dict[str, Any] = {"updated_at": now, "error": _safe(error, secret)}
            if status == "failed":
                values.update(status="failed", node=None, finished_at=now)
            moved = await tx.execute(
                update(flow_runs)
                .where(flow_runs.c.id == run_id, flow_runs.c.node == node.index)
                .values(**values)
            )
            if status == "failed" and moved.rowcount == 1:
                await publish_run_failed(hub, tx, run_id, str(values["error"]))
                await self._next_in_lane(tx, run_id)
        if status == "failed" and moved.rowcount == 1:
            FLOW_RUNS.labels(state.flow_id, "failed").inc()
        log.info(
            "flow.step_failed",
            run_id=run_id,
            step=node.id,
            status=status,
            error=_safe(error, secret),
        )

    async def _upsert_step(self, tx: AsyncConnection, row: dict[str, Any]) -> None:
        keys = ("run_id", "node")
        await tx.execute(
            upsert(
                tx, flow_run_steps, keys=keys, values=row, update=[k for k in row if k not in keys]
            )
        )


def _lane(event: Event) -> str | None:
    """The person whose runs of an ordered flow go one after another."""
    key = default_user_key(
        {"user_id": event.user_id, "email": event.email, "anonymous_id": event.anonymous_id}
    )
    return storable_key(key) if key else None


def _earlier_unfinished(run_id: str) -> Any:
    """EXISTS an unfinished run of the same flow and lane created before ``run_id``."""
    mine = flow_runs.alias("mine")
    earlier = flow_runs.alias("earlier")
    return (
        select(earlier.c.id)
        .select_from(earlier.join(mine, mine.c.id == run_id))
        .where(
            earlier.c.flow_id == mine.c.flow_id,
            earlier.c.lane == mine.c.lane,
            earlier.c.id < mine.c.id,
            earlier.c.status.in_(UNFINISHED),
        )
        .exists()
    )


async def _triggering_event(
    connection: AsyncConnection, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """The start job's event: carried by a scheduled tick, else read from the event log."""
    if "event" in payload:
        return dict(payload["event"])
    row = await get_event(connection, str(payload["e"]))
    return None if row is None else _event_of(event_dict(row))


def _event_of(document: dict[str, Any]) -> dict[str, Any]:
    """The event as flows see it (timestamps as RFC 3339 strings)."""
    result = dict(document)
    for key in ("occurred_at", "received_at"):
        value = result.get(key)
        if isinstance(value, datetime):
            result[key] = format_timestamp(value)
    return result


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


def _safe(value: Any, secret: str) -> Any:
    return redact(value, known=frozenset({secret}))
