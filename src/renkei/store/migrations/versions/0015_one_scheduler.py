"""one scheduler: flows' and syncs' schedules become the queue's schedules

Revision ID: 0015
Revises: 0014

Before, flows polled their own ``flow_schedules`` table every 30 s and syncs a
``next_run_at`` column every 60 s. Now each scheduled flow and sync is a row of the queue's
``schedules`` table (``flow:<id>`` / ``sync:<id>``) that keeps its next tick, and the two
pollers' own schedule rows go, with the sync poller's pending jobs (its task is gone). ``syncs.next_run_at`` stays: it shows the next tick. The
duration rule is frozen here on purpose: a migration must mean the same thing whatever
``flows/spec.py`` becomes.
"""

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

from renkei.store.types import JSONDocument, UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

POLLERS = ("flows.schedule", "syncs.tick")
DURATION = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*", re.ASCII)
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_KEYS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}

schedules = sa.table(
    "schedules",
    sa.column("name", sa.String),
    sa.column("task", sa.String),
    sa.column("queue", sa.String),
    sa.column("payload", JSONDocument),
    sa.column("every_seconds", sa.Float),
    sa.column("cron", sa.String),
    sa.column("next_run_at", UTCDateTime),
    sa.column("last_run_at", UTCDateTime),
)
flow_schedules = sa.table(
    "flow_schedules",
    sa.column("flow_id", sa.String),
    sa.column("next_run_at", UTCDateTime),
    sa.column("last_run_at", UTCDateTime),
)
flows = sa.table(
    "flows",
    sa.column("id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("deleted_at", UTCDateTime),
)
flow_versions = sa.table(
    "flow_versions",
    sa.column("flow_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("spec", sa.JSON),
)
jobs = sa.table("jobs", sa.column("task", sa.String), sa.column("status", sa.String))
syncs = sa.table(
    "syncs",
    sa.column("id", sa.String),
    sa.column("trigger", sa.JSON),
    sa.column("next_run_at", UTCDateTime),
)


def _document(stored: Any) -> dict[str, Any]:
    if isinstance(stored, str):
        stored = json.loads(stored)
    return stored if isinstance(stored, dict) else {}


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = DURATION.fullmatch(value)
        return None if match is None else float(match.group(1)) * UNITS[match.group(2) or "s"]
    if isinstance(value, dict) and value and set(value) <= set(DURATION_KEYS):
        return sum(float(amount) * DURATION_KEYS[key] for key, amount in value.items())
    return None


def upgrade() -> None:
    connection = op.get_bind()
    connection.execute(sa.delete(schedules).where(schedules.c.name.in_(POLLERS)))
    connection.execute(
        sa.delete(jobs).where(jobs.c.task == "syncs.tick", jobs.c.status == "scheduled")
    )
    scheduled_flows = connection.execute(
        sa.select(
            flow_schedules.c.flow_id,
            flow_schedules.c.next_run_at,
            flow_schedules.c.last_run_at,
            flow_versions.c.spec,
        )
        .join(flows, flows.c.id == flow_schedules.c.flow_id)
        .join(
            flow_versions,
            (flow_versions.c.flow_id == flows.c.id) & (flow_versions.c.version == flows.c.version),
        )
        .where(flows.c.deleted_at.is_(None))
    ).all()
    for row in scheduled_flows:
        schedule = _document(_document(row.spec).get("trigger")).get("schedule") or {}
        cron = schedule.get("cron") if isinstance(schedule.get("cron"), str) else None
        every = None if cron else _seconds(schedule.get("every"))
        if cron is None and every is None:
            continue
        connection.execute(
            sa.insert(schedules).values(
                name=f"flow:{row.flow_id}",
                task="flows.schedule",
                queue="flows",
                payload={"flow_id": row.flow_id},
                every_seconds=every,
                cron=cron,
                next_run_at=row.next_run_at,
                last_run_at=row.last_run_at,
            )
        )
    scheduled_syncs = connection.execute(
        sa.select(syncs.c.id, syncs.c.trigger, syncs.c.next_run_at).where(
            syncs.c.next_run_at.is_not(None)
        )
    ).all()
    for sync in scheduled_syncs:
        trigger = _document(sync.trigger)
        every, cron = trigger.get("every_seconds"), trigger.get("cron")
        if not every and not cron:
            continue
        connection.execute(
            sa.insert(schedules).values(
                name=f"sync:{sync.id}",
                task="syncs.schedule",
                queue="syncs",
                payload={"sync_id": sync.id},
                every_seconds=float(every) if every else None,
                cron=str(cron) if cron else None,
                next_run_at=sync.next_run_at,
                last_run_at=None,
            )
        )
    op.drop_table("flow_schedules")


def downgrade() -> None:
    op.create_table(
        "flow_schedules",
        sa.Column("flow_id", sa.String(40), primary_key=True),
        sa.Column("next_run_at", UTCDateTime, nullable=False),
        sa.Column("last_run_at", UTCDateTime),
    )
    connection = op.get_bind()
    scheduled = connection.execute(
        sa.select(schedules.c.name, schedules.c.next_run_at, schedules.c.last_run_at).where(
            schedules.c.name.like("flow:%")
        )
    ).all()
    for row in scheduled:
        connection.execute(
            sa.insert(flow_schedules).values(
                flow_id=row.name.removeprefix("flow:"),
                next_run_at=row.next_run_at,
                last_run_at=row.last_run_at,
            )
        )
    connection.execute(
        sa.delete(schedules).where(
            schedules.c.name.like("flow:%") | schedules.c.name.like("sync:%")
        )
    )
