"""The ``alerts.evaluate`` periodic job (once per tick across workers, bounded work):
rules that no single event says (a failure rate, a backlog, dead jobs growing), and the
quiet period that resolves an alert whose problem stopped. It also prunes the per-minute
call counts of connections past their retention.

Each tick a rule still holds bumps its alert's ``last_seen``; a rule that stops holding
lets its alert go quiet, and quiet alerts resolve like the event-driven ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.alerts import model
from renkei.connectors.call_buckets import minute_of, prune, retention
from renkei.queue import died_since_by_task, oldest_due_by_task
from renkei.store.tables.alerts import connection_calls, connection_health
from renkei.store.tables.connectors import connections
from renkei.store.tables.flows import flow_runs
from renkei.store.tables.webhooks import delivery_attempts

if TYPE_CHECKING:
    from renkei.connectors.health import ConnectionHealth
    from renkei.core import Core

__all__ = ["EVALUATE_TASK", "Evaluated", "evaluate"]

EVALUATE_TASK = "alerts.evaluate"
MAX_SUBJECTS = 100  # per rule per tick
MAX_RESOLVED = 200  # per tick; the rest resolve on the next ones
# A skipped or stopped run neither failed nor did its work: only these count in a rate.
ENDED_RUN_STATUSES = ("succeeded", "failed")


@dataclass
class Evaluated:
    observed: int = 0
    resolved: int = 0


async def evaluate(hub: Core, health: ConnectionHealth) -> Evaluated:
    settings = hub.settings
    now = hub.clock.now()
    outcome = Evaluated()
    async with hub.database.read() as connection:
        findings = [
            *await _failing_endpoints(hub, connection),
            *await _failing_flows(hub, connection),
            *await _failing_connections(hub, connection),
            *await _backlogs(hub, connection),
            *await _dead_jobs(hub, connection),
        ]
        quiet_before = now - timedelta(seconds=settings.alert_quiet_seconds)
        stale = await model.stale(connection, quiet_before, MAX_RESOLVED)
        ended = await _ended_streaks(connection, quiet_before)
    async with hub.database.transaction() as tx:
        for kind, subject_type, subject_id, sample in findings:
            await model.observe(
                hub, tx, kind=kind, subject_type=subject_type, subject_id=subject_id, sample=sample
            )
            outcome.observed += 1
        for alert_id in stale:
            outcome.resolved += await model.resolve(hub, tx, alert_id, quiet_since=quiet_before)
        for connection_id in ended:
            # No call failed for a quiet period, but none succeeded either (or the success
            # ran where the failures were not seen): the streak is over.
            await health.end_streak(tx, connection_id)
        await prune(tx, now - retention(settings.alert_failure_window_seconds))
    return outcome


Finding = tuple[str, str, str, dict[str, object]]


async def _failing_endpoints(hub: Core, connection: AsyncConnection) -> list[Finding]:
    """Endpoints whose delivery attempts failed at RENKEI_ALERT_FAILURE_RATE or more over
    the window, counting those with enough attempts to say."""
    settings = hub.settings
    since = hub.clock.now() - timedelta(seconds=settings.alert_failure_window_seconds)
    failed = func.sum(cast(~delivery_attempts.c.success, Integer))
    total = func.count()
    rows = await connection.execute(
        select(delivery_attempts.c.endpoint_id, failed, total)
        .where(delivery_attempts.c.started_at >= since)
        .group_by(delivery_attempts.c.endpoint_id)
        .having(total >= settings.alert_failure_min_count)
        .having(failed >= total * settings.alert_failure_rate)
        .order_by(delivery_attempts.c.endpoint_id)
        .limit(MAX_SUBJECTS)
    )
    return [
        (
            "endpoint_failure_rate",
            "endpoint",
            endpoint_id,
            {
                "failed": int(failures),
                "attempts": int(attempts),
                "window_seconds": settings.alert_failure_window_seconds,
                "reason": f"{int(failures)} of {int(attempts)} delivery attempts failed",
            },
        )
        for endpoint_id, failures, attempts in rows.tuples()
    ]


async def _failing_flows(hub: Core, connection: AsyncConnection) -> list[Finding]:
    """Flows whose runs that ended within the window failed at RENKEI_ALERT_FAILURE_RATE or
    more, counting those with RENKEI_ALERT_FAILURE_MIN_COUNT ended runs or more (read
    through ``ix_flow_runs_finished_at``: the window's runs only)."""
    settings = hub.settings
    since = hub.clock.now() - timedelta(seconds=settings.alert_failure_window_seconds)
    failed = func.sum(cast(flow_runs.c.status == "failed", Integer))
    total = func.count()
    rows = await connection.execute(
        select(flow_runs.c.flow_id, failed, total)
        .where(
            flow_runs.c.finished_at >= since,
            flow_runs.c.status.in_(ENDED_RUN_STATUSES),
        )
        .group_by(flow_runs.c.flow_id)
        .having(total >= settings.alert_failure_min_count)
        .having(failed >= total * settings.alert_failure_rate)
        .order_by(flow_runs.c.flow_id)
        .limit(MAX_SUBJECTS)
    )
    return [
        (
            "flow_failure_rate",
            "flow",
            flow_id,
            {
                "failed": int(failures),
                "runs": int(runs),
                "window_seconds": settings.alert_failure_window_seconds,
                "reason": f"{int(failures)} of {int(runs)} flow runs failed",
            },
        )
        for flow_id, failures, runs in rows.tuples()
    ]


async def _failing_connections(hub: Core, connection: AsyncConnection) -> list[Finding]:
    """Connections whose calls failed at RENKEI_ALERT_FAILURE_RATE or more over the window
    (whole minutes, the oldest one included), counting those with
    RENKEI_ALERT_FAILURE_MIN_COUNT calls or more: a connection that fails now and then
    never makes the ``connection.failing`` streak, this says most of its calls fail."""
    settings = hub.settings
    window = settings.alert_failure_window_seconds
    since = minute_of(hub.clock.now() - timedelta(seconds=window))
    failed = func.sum(connection_calls.c.failures)
    total = func.sum(connection_calls.c.calls)
    rows = await connection.execute(
        select(connection_calls.c.connection_id, failed, total)
        .where(
            connection_calls.c.minute >= since,
            # A deleted connection's last minutes say nothing anyone can act on.
            connection_calls.c.connection_id.in_(select(connections.c.id)),
        )
        .group_by(connection_calls.c.connection_id)
        .having(total >= settings.alert_failure_min_count)
        .having(failed >= total * settings.alert_failure_rate)
        .order_by(connection_calls.c.connection_id)
        .limit(MAX_SUBJECTS)
    )
    return [
        (
            "connection_failure_rate",
            "connection",
            connection_id,
            {
                "failed": int(failures),
                "calls": int(calls),
                "window_seconds": window,
                "reason": f"{int(failures)} of {int(calls)} calls failed",
            },
        )
        for connection_id, failures, calls in rows.tuples()
    ]


async def _backlogs(hub: Core, connection: AsyncConnection) -> list[Finding]:
    """Tasks whose oldest due job has waited RENKEI_ALERT_JOB_AGE_MINUTES or more."""
    now = hub.clock.now()
    due_before = now - timedelta(minutes=hub.settings.alert_job_age_minutes)
    oldest = await oldest_due_by_task(connection, due_before, limit=MAX_SUBJECTS)
    return [
        (
            "job_backlog",
            "task",
            task,
            {
                "oldest_due_at": due.isoformat(),
                "reason": f"a {task} job has waited {int((now - due).total_seconds() // 60)} min",
            },
        )
        for task, due in oldest.items()
    ]


async def _dead_jobs(hub: Core, connection: AsyncConnection) -> list[Finding]:
    """Tasks whose dead-letter count grew within the failure window."""
    since = hub.clock.now() - timedelta(seconds=hub.settings.alert_failure_window_seconds)
    died = await died_since_by_task(connection, since, limit=MAX_SUBJECTS)
    return [
        ("dead_jobs", "task", task, {"died": count, "reason": f"{count} {task} jobs died"})
        for task, count in died.items()
    ]


async def _ended_streaks(connection: AsyncConnection, quiet_before: datetime) -> list[str]:
    rows = await connection.execute(
        select(connection_health.c.connection_id)
        .where(connection_health.c.last_failure_at < quiet_before)
        .limit(MAX_SUBJECTS)
    )
    return list(rows.scalars())
