"""Tracking plan violations: counted in memory on the hot path, written in batches.

The tracking API must not pay a database write per bad event. :class:`ViolationRecorder`
adds each problem to an in-memory group keyed by (source, event, problem, path): a count,
first and last seen, the latest message and sample. About a second after the first pending
problem (``flush_seconds``), or when the list is read, or when the process stops, the groups
are upserted in one transaction, one row per group (``plan_violations``). A flush that fails
puts its counts back to be written with the next one. At most ``max_groups`` groups wait;
past that new groups are counted in a metric and dropped (a flood of made-up event names
cannot grow memory without bound).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from prometheus_client import Counter
from sqlalchemy import ColumnElement, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import Event, format_timestamp
from renkei.events.plan import Problem
from renkei.store.json_search import holds_string
from renkei.store.statements import upsert
from renkei.store.tables.plans import PLAN_ACTIONS, plan_violations

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = [
    "PLAN_VIOLATIONS",
    "Violation",
    "ViolationRecorder",
    "list_violations",
    "scrub_samples",
    "scrub_samples_quoting",
]

log = structlog.get_logger("renkei.plan")

PLAN_VIOLATIONS = Counter(
    "renkei_plan_violations_total",
    "Tracked events' problems against the tracking plan, by what was done to the event",
    ["action"],
)
_COUNTERS = {action: PLAN_VIOLATIONS.labels(action) for action in PLAN_ACTIONS}
DROPPED_GROUPS = Counter(
    "renkei_plan_violation_groups_dropped_total",
    "Violation groups not recorded because too many were waiting to be written",
)
# The row an upsert offered is ``excluded`` on both backends (ON CONFLICT DO UPDATE).
_OFFERED_COUNT: ColumnElement[int] = literal_column("excluded.count")
_SAMPLE_BYTES = 4096
_NAME_WIDTH = 255
_PATH_WIDTH = 500
_MESSAGE_WIDTH = 1000


@dataclass(slots=True)
class Violation:
    id: str
    source_id: str
    event_type: str
    event_name: str | None
    problem: str
    path: str
    message: str
    action: str
    count: int
    first_seen: datetime
    last_seen: datetime
    sample: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source_id": self.source_id,
            "event_type": self.event_type,
            "event_name": self.event_name,
            "problem": self.problem,
            "path": self.path,
            "message": self.message,
            "action": self.action,
            "count": self.count,
            "first_seen": format_timestamp(self.first_seen),
            "last_seen": format_timestamp(self.last_seen),
            "sample": self.sample,
        }


def group_id(source_id: str, event_type: str, name: str | None, kind: str, path: str) -> str:
    key = "\0".join((source_id, event_type, name or "", kind, path))
    return "vio_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _sample(event_id: str, field: str, payload: Any) -> dict[str, Any]:
    """The event's id and its payload as sent (only its keys when large)."""
    text = orjson.dumps(payload)
    if len(text) > _SAMPLE_BYTES:
        keys = sorted(payload)[:100] if isinstance(payload, dict) else []
        return {"event_id": event_id, f"{field}_keys": keys, "truncated": True}
    return {"event_id": event_id, field: payload}


GroupKey = tuple[str, str, str | None, str, str]
"""(source id, event type, event name, problem, path)."""


@dataclass(slots=True)
class _Pending:
    """A group's counts since the last flush. The sample is kept as a reference to the
    payload (never changed in place: ``omit_properties`` builds a new one) and serialized
    only when written, so a violation costs the hot path a dict lookup and an increment."""

    message: str
    action: str
    count: int
    first_seen: datetime
    last_seen: datetime
    event_id: str
    field: str
    payload: Any


class ViolationRecorder:
    def __init__(self, hub: Core, *, flush_seconds: float = 1.0, max_groups: int = 10_000) -> None:
        self.hub = hub
        self.flush_seconds = flush_seconds
        self.max_groups = max_groups
        self._pending: dict[GroupKey, _Pending] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def pending_groups(self) -> int:
        return len(self._pending)

    def record(
        self, source_id: str, event: Event, field: str, problem: Problem, action: str
    ) -> None:
        _COUNTERS[action].inc()
        key = (source_id, event.type, event.name, problem.kind, problem.path)
        now = event.received_at
        group = self._pending.get(key)
        if group is not None:
            group.count += 1
            if now > group.last_seen:
                group.last_seen = now
            group.message, group.action = problem.message, action
            group.event_id, group.field = event.id, field
            group.payload = event.data.get(field)
            return
        if len(self._pending) >= self.max_groups:
            DROPPED_GROUPS.inc()
            return
        self._pending[key] = _Pending(
            problem.message, action, 1, now, now, event.id, field, event.data.get(field)
        )
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # recorded outside a loop (a unit test): written by the next flush()
        self._timer = loop.call_later(self.flush_seconds, self._flush_soon)

    def _flush_soon(self) -> None:
        self._timer = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(
                self._flush_logged(), name="renkei-plan-violations"
            )

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # the counts are kept for the next flush
            log.warning("plan.violations_not_written", error=type(exc).__name__)
            self._schedule()

    async def flush(self) -> None:
        """Write every pending group (one transaction); on failure they stay pending."""
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            rows = [_row(key, group) for key, group in batch.items()]
            rows.sort(key=lambda row: row["id"])  # one lock order for every node
            try:
                async with self.hub.database.transaction() as tx:
                    statement = upsert(
                        tx,
                        plan_violations,
                        keys=["id"],
                        update=("message", "action", "last_seen", "sample", "sample_event_id"),
                        set_={"count": plan_violations.c.count + _OFFERED_COUNT},
                    )
                    await tx.execute(statement, rows)
            except BaseException:
                self._merge_back(batch)
                raise

    def _merge_back(self, batch: dict[GroupKey, _Pending]) -> None:
        for key, group in batch.items():
            newer = self._pending.get(key)
            if newer is None:
                self._pending[key] = group
                continue
            newer.count += group.count
            newer.first_seen = min(newer.first_seen, group.first_seen)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            await self.flush()
        except Exception as exc:
            log.warning("plan.violations_not_written", error=type(exc).__name__)


def _row(key: GroupKey, group: _Pending) -> dict[str, Any]:
    source_id, event_type, name, kind, path = key
    return {
        "id": group_id(source_id, event_type, name, kind, path),
        "source_id": source_id,
        "event_type": event_type,
        "event_name": None if name is None else name[:_NAME_WIDTH],
        "problem": kind,
        "path": path[:_PATH_WIDTH],
        "message": group.message[:_MESSAGE_WIDTH],
        "action": group.action,
        "count": group.count,
        "first_seen": group.first_seen,
        "last_seen": group.last_seen,
        "sample": _sample(group.event_id, group.field, group.payload),
        "sample_event_id": group.event_id,
    }


async def scrub_samples(connection: AsyncConnection, event_ids: Collection[str]) -> int:
    """Replace the samples taken from these events (a person deleted: their properties
    or traits may be personal data) with ``{"scrubbed": true}``; returns how many. The
    counts stay: they say nothing about the person."""
    scrubbed = 0
    ids = list(event_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        result = await connection.execute(
            update(plan_violations)
            .where(plan_violations.c.sample_event_id.in_(chunk))
            .values(sample={"scrubbed": True})
        )
        scrubbed += result.rowcount or 0
    return scrubbed


async def scrub_samples_quoting(connection: AsyncConnection, values: Collection[str]) -> int:
    """:func:`scrub_samples` for the samples that hold one of ``values`` as a JSON string
    (a person's email in traits): those of events never stored (``block`` mode drops
    them, so no stored event leads to the sample). A full scan of the groups, which are
    few (one per source, type, name, problem and path): for a deletion, never a hot path."""
    scrubbed = 0
    wanted = [value for value in dict.fromkeys(values) if value]
    for start in range(0, len(wanted), 50):
        chunk = wanted[start : start + 50]
        result = await connection.execute(
            update(plan_violations)
            .where(or_(*(holds_string(plan_violations.c.sample, value) for value in chunk)))
            .values(sample={"scrubbed": True})
        )
        scrubbed += result.rowcount or 0
    return scrubbed


async def list_violations(
    connection: AsyncConnection,
    *,
    source_id: str | None = None,
    limit: int,
    after: str | None = None,
) -> list[Violation]:
    """By group id (stable, so pages do not shift as counts move)."""
    query = select(plan_violations).order_by(plan_violations.c.id).limit(limit)
    if source_id is not None:
        query = query.where(plan_violations.c.source_id == source_id)
    if after is not None:
        query = query.where(plan_violations.c.id > after)
    return [
        Violation(
            id=row.id,
            source_id=row.source_id,
            event_type=row.event_type,
            event_name=row.event_name,
            problem=row.problem,
            path=row.path,
            message=row.message,
            action=row.action,
            count=int(row._mapping["count"]),
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            sample=row.sample,
        )
        for row in await connection.execute(query)
    ]
