"""The dashboard's overview: what came in and what went out over the last 24 hours, and
what needs someone's attention: failing endpoints, deliveries that ran out of retries,
flows and syncs whose runs failed, daily quotas above 80 %."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import CompoundSelect, Integer, Select, func, literal, select, union_all

from renkei.store.tables.core import events
from renkei.store.tables.flows import flow_runs, flows
from renkei.store.tables.syncs import sync_runs, syncs
from renkei.store.tables.webhooks import DELIVERY_STATUSES, deliveries, endpoints
from renkei.usecases import connections as connection_cases
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import every

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "FailedRuns",
    "FailingEndpoint",
    "HourOutcomes",
    "Overview",
    "QuotaUse",
    "deliveries_by_hour",
    "deliveries_by_status_query",
    "hourly_outcomes_query",
    "overview",
]

WINDOW = timedelta(hours=24)
LISTED = 20
QUOTA_WARNING = 0.8


@dataclass(frozen=True)
class FailingEndpoint:
    id: str
    name: str
    failing_since: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True)
class FailedRuns:
    id: str  # the flow's or the sync's
    name: str
    failed: int  # runs that failed in the window
    last_failed_at: datetime


@dataclass(frozen=True)
class QuotaUse:
    connection_id: str
    connection: str
    used: int
    limit: int

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit else 0.0


@dataclass(frozen=True)
class Overview:
    since: datetime
    events_received: int
    deliveries: dict[str, int] = field(default_factory=dict)  # every status, 0 when none
    failing_endpoints: list[FailingEndpoint] = field(default_factory=list)
    exhausted_deliveries: int = 0
    failing_flows: list[FailedRuns] = field(default_factory=list)
    failing_syncs: list[FailedRuns] = field(default_factory=list)
    quotas: list[QuotaUse] = field(default_factory=list)  # at 80 % of the day's or above

    @property
    def problems(self) -> bool:
        return bool(
            self.failing_endpoints
            or self.exhausted_deliveries
            or self.failing_flows
            or self.failing_syncs
            or self.quotas
        )


async def overview(hub: Hub, actor: Actor) -> Overview:
    require(actor, "read")
    since = hub.clock.now() - WINDOW
    async with hub.database.read() as connection:
        received = await connection.scalar(
            select(func.count()).select_from(events).where(events.c.received_at >= since)
        )
        by_status: dict[str, int] = dict(
            (await connection.execute(deliveries_by_status_query(since))).all()
        )
        failing = await connection.execute(
            select(
                endpoints.c.id,
                endpoints.c.name,
                endpoints.c.failing_since,
                endpoints.c.disabled_reason,
            )
            .where(
                endpoints.c.deleted_at.is_(None),
                endpoints.c.failing_since.is_not(None)
                | (endpoints.c.disabled.is_(True) & (endpoints.c.disabled_reason != "paused")),
            )
            .order_by(endpoints.c.failing_since)
            .limit(LISTED)
        )
        failing_endpoints = [FailingEndpoint(*row) for row in failing]
        failing_flows = [
            FailedRuns(*row)
            for row in await connection.execute(
                select(flows.c.id, flows.c.name, func.count(), func.max(flow_runs.c.started_at))
                .join(flows, flows.c.id == flow_runs.c.flow_id)
                .where(
                    flow_runs.c.status == "failed",
                    flow_runs.c.started_at >= since,
                    flows.c.deleted_at.is_(None),
                )
                .group_by(flows.c.id, flows.c.name)
                .order_by(func.count().desc())
                .limit(LISTED)
            )
        ]
        failing_syncs = [
            FailedRuns(*row)
            for row in await connection.execute(
                select(syncs.c.id, syncs.c.name, func.count(), func.max(sync_runs.c.started_at))
                .join(syncs, syncs.c.id == sync_runs.c.sync_id)
                .where(sync_runs.c.status == "failed", sync_runs.c.started_at >= since)
                .group_by(syncs.c.id, syncs.c.name)
                .order_by(func.count().desc())
                .limit(LISTED)
            )
        ]
    return Overview(
        since=since,
        events_received=int(received or 0),
        deliveries={status: int(by_status.get(status, 0)) for status in DELIVERY_STATUSES},
        failing_endpoints=failing_endpoints,
        exhausted_deliveries=int(by_status.get("exhausted", 0)),
        failing_flows=failing_flows,
        failing_syncs=failing_syncs,
        quotas=await _quotas_nearly_spent(hub, actor),
    )


def deliveries_by_status_query(since: datetime) -> Select[Any]:
    """Deliveries created since ``since``, counted by status: a time range of
    ``ix_deliveries_created_status``, read from the index alone (not every delivery)."""
    return (
        select(deliveries.c.status, func.count())
        .where(deliveries.c.created_at >= since)
        .group_by(deliveries.c.status)
    )


async def _quotas_nearly_spent(hub: Hub, actor: Actor) -> list[QuotaUse]:
    """Connections whose daily quota is 80 % spent or more (the connector's own count)."""
    found: list[QuotaUse] = []
    rows = await every(
        lambda cursor, size: connection_cases.list_connections(
            hub, actor, limit=size, cursor=cursor
        )
    )
    for row in rows:
        daily = (await connection_cases.usage(hub, actor, row.id)).get("daily_quota")
        if daily and daily.get("limit"):
            use = QuotaUse(row.id, row.name, int(daily["used"]), int(daily["limit"]))
            if use.share >= QUOTA_WARNING:
                found.append(use)
    return found


@dataclass(frozen=True)
class HourOutcomes:
    start: datetime
    counts: dict[str, int]  # delivery status → deliveries created in this hour

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def deliveries_by_hour(
    hub: Hub, actor: Actor, *, endpoint_id: str | None = None, hours: int = 24
) -> list[HourOutcomes]:
    """Deliveries created in each of the last ``hours`` clock hours (the current one last),
    by their status now: the chart of outcomes over time. One query: a count per hour."""
    require(actor, "read")
    end = hub.clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [end - timedelta(hours=hours - index) for index in range(hours)]
    hours_found = [HourOutcomes(start, {}) for start in starts]
    async with hub.database.read() as connection:
        query = hourly_outcomes_query(starts, endpoint_id)
        for index, status, count in await connection.execute(query):
            hours_found[index].counts[status] = int(count)
    return hours_found


def hourly_outcomes_query(starts: list[datetime], endpoint_id: str | None) -> CompoundSelect[Any]:
    """(hour's index in ``starts``, status, deliveries) of the deliveries created since
    ``starts[0]``: one count by status per hour, each a time range of
    ``ix_deliveries_created_status`` (of ``ix_deliveries_endpoint_created`` for one
    endpoint). Cheaper than picking each row's hour with a CASE over the hours' starts, and
    still no date function of either backend."""
    hours = []
    for index, start in enumerate(starts):
        hour = select(literal(index, Integer), deliveries.c.status, func.count()).where(
            deliveries.c.created_at >= start
        )
        if index + 1 < len(starts):
            hour = hour.where(deliveries.c.created_at < starts[index + 1])
        if endpoint_id is not None:
            hour = hour.where(deliveries.c.endpoint_id == endpoint_id)
        hours.append(hour.group_by(deliveries.c.status))
    return union_all(*hours)
