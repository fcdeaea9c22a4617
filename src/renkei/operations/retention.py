"""``retention.expire``: the periodic job that deletes what is older than its retention
(docs/retention.md).

Events (``RENKEI_RETENTION_EVENTS_DAYS``, per type ``RENKEI_RETENTION_EVENT_TYPES``),
deliveries with their attempts (``RENKEI_RETENTION_DELIVERIES_DAYS``), finished flow runs
with their steps (``RENKEI_RETENTION_FLOW_RUNS_DAYS``) and finished sync runs
(``RENKEI_RETENTION_SYNC_RUNS_DAYS``). Each batch of at most ``RENKEI_RETENTION_BATCH_SIZE``
rows is its own short transaction, and the job rests between batches (see _Pacer), so
ingest and delivery keep their turn at the database (and at its one writer, where it has
one). Each table is written through the package that owns it; this module only decides
what and when.

Where events, deliveries and attempts are partitioned by week
(``Database.partitioned_by_time``, store/partitions.py), whole partitions past their
retention are detached and dropped first; batched deletes then take what is left (rows a
longer per-type rule keeps in a partition, open deliveries, the DEFAULT partition). Their
cutoff for the default rules is then the start of the week the retention ends in: the rows
of a week go with their partition once the whole week has expired, not row by row before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from renkei.delivery import retention as delivery_retention
from renkei.errors import Gone
from renkei.events import retention as event_retention
from renkei.flows import retention as flow_retention
from renkei.queue import JobContext, Periodic
from renkei.store import partitions
from renkei.syncs import retention as sync_retention

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.settings import Settings

__all__ = ["TASK", "Rule", "event_rules", "expire", "install", "refuse_expired_window"]

TASK = "retention.expire"

_Prune = Callable[..., Awaitable[int]]


@dataclass(frozen=True)
class Rule:
    """Events received more than ``days`` ago expire: those of ``only_types`` when given,
    else every type but ``skip_types`` (the ones with a rule of their own)."""

    days: float
    only_types: tuple[str, ...] = ()
    skip_types: tuple[str, ...] = ()


def event_rules(settings: Settings) -> list[Rule]:
    overrides = settings.retention_event_types
    rules = [Rule(settings.retention_events_days, skip_types=tuple(sorted(overrides)))]
    rules += [Rule(days, only_types=(name,)) for name, days in sorted(overrides.items())]
    return rules


def horizon(settings: Settings, now: datetime, types: tuple[str, ...] = ()) -> datetime:
    """The oldest ``received_at`` an event (of ``types``, or of any type) may still have."""
    overrides = settings.retention_event_types
    default = settings.retention_events_days
    if types:
        days = max(overrides.get(name, default) for name in types)
    else:
        days = max([default, *overrides.values()])
    return now - timedelta(days=days)


def refuse_expired_window(
    settings: Settings, now: datetime, until: datetime | None, types: tuple[str, ...] = ()
) -> None:
    """A replay of a window that ends before every event it could take expired: 410."""
    oldest = horizon(settings, now, types)
    if until is not None and until <= oldest:
        raise Gone(
            f"events received before {oldest.isoformat()} have expired (retention); "
            "this window has nothing left to replay",
            code="expired",
            details={"expired_before": oldest.isoformat()},
        )


# Between batches the job rests as long as the last batch took, times this (at most
# _MAX_REST seconds). With one writer (the embedded database) ingest is bound by that writer:
# a job taking half of it halved ingest in bench/retention.py, so there it takes a quarter at
# most. On a database server deletes and inserts do not wait on each other, and half the
# database's time left ingest level in the same bench.
_REST_SINGLE_WRITER = 3.0
_BUDGET_SHARE = 0.9
_KINDS = (
    "partitions",
    "events",
    "deliveries_cancelled",
    "deliveries",
    "attempts",
    "flow_runs",
    "sync_runs",
    "unfinished",
)
_REST = 1.0
_MAX_REST = 2.0


class _OutOfTime(Exception):
    """The run used its time: the next tick carries on where it stopped."""


class _Pacer:
    """Real time, not the hub's clock: it paces work on the database, not anything a user
    scheduled. A run stops at ``budget`` seconds (most of the interval) so that a backlog
    (retention shortened, or first enabled on a large database) is worked off tick after
    tick by one run at a time rather than by runs piling up."""

    def __init__(self, rest: float, budget: float) -> None:
        self._rest = rest
        self._started = time.monotonic()
        self._deadline = self._started + budget

    async def pause(self) -> None:
        took = time.monotonic() - self._started
        await asyncio.sleep(min(took * self._rest, _MAX_REST))
        if time.monotonic() >= self._deadline:
            raise _OutOfTime
        self._started = time.monotonic()


async def expire(hub: Core) -> dict[str, int]:
    """Delete everything past its retention, batch by batch; the counts by kind, and
    ``unfinished`` 1 when the run stopped at its time budget with more to delete."""
    counts = dict.fromkeys(_KINDS, 0)
    rest = _REST_SINGLE_WRITER if hub.database.single_writer else _REST
    pacer = _Pacer(rest, budget=hub.settings.retention_interval_seconds * _BUDGET_SHARE)
    try:
        await _expire(hub, counts, pacer)
    except _OutOfTime:
        counts["unfinished"] = 1
    return counts


async def _expire(hub: Core, counts: dict[str, int], pacer: _Pacer) -> None:
    settings = hub.settings
    now = hub.clock.now()
    limit = settings.retention_batch_size
    if hub.database.partitioned_by_time:
        await _drop_partitions(hub, counts, pacer, now)
    for rule in event_rules(settings):
        before = now - timedelta(days=rule.days)
        if not rule.only_types:
            before = _batched_cutoff(hub, before)
        async with hub.database.read() as connection:
            below = await event_retention.first_seq_at(connection, before)
        after = 0
        while True:
            async with hub.database.transaction() as tx:
                batch = await event_retention.expire_events(
                    tx,
                    before=before,
                    below_seq=below,
                    after_seq=after,
                    limit=limit,
                    only_types=rule.only_types,
                    skip_types=rule.skip_types,
                )
                counts[
                    "deliveries_cancelled"
                ] += await delivery_retention.cancel_for_expired_events(tx, batch.ids, now)
            counts["events"] += len(batch.ids)
            if batch.last_seq is None or len(batch.ids) < limit:
                break
            after = batch.last_seq
            await pacer.pause()
    deliveries_before = _batched_cutoff(
        hub, now - timedelta(days=settings.retention_deliveries_days)
    )
    after = 0
    while True:
        async with hub.database.transaction() as tx:
            deleted, last = await delivery_retention.prune_deliveries(
                tx, before=deliveries_before, after_seq=after, limit=limit
            )
        counts["deliveries"] += deleted
        if last is None or deleted < limit:
            break
        after = last
        await pacer.pause()
    for name, prune, before in _simple(hub, now):
        while True:
            async with hub.database.transaction() as tx:
                deleted = await prune(tx, before=before, limit=limit)
            counts[name] += deleted
            if deleted < limit:
                break
            await pacer.pause()


def _batched_cutoff(hub: Core, before: datetime) -> datetime:
    """Where tables are partitioned by week, rows of the week ``before`` falls in wait for
    their partition to be dropped whole; elsewhere ``before`` itself."""
    return partitions.floor(before) if hub.database.partitioned_by_time else before


async def _drop_partitions(hub: Core, counts: dict[str, int], pacer: _Pacer, now: datetime) -> None:
    """Detach and drop the partitions wholly past their retention (and finish those a run
    stopped before dropping); one partition per transaction, a rest between them."""
    settings = hub.settings
    longer = tuple(
        sorted(
            name
            for name, days in settings.retention_event_types.items()
            if days > settings.retention_events_days
        )
    )
    events_before = now - timedelta(days=settings.retention_events_days)
    deliveries_before = now - timedelta(days=settings.retention_deliveries_days)
    for partition in await _due(hub, "events", events_before):
        if partition.attached:
            if longer:
                async with hub.database.read() as connection:
                    if await event_retention.partition_holds(connection, partition, longer):
                        continue  # batched deletes take the rest of it
            # The detach holds the parent's lock (and ingest) for a moment, and takes no
            # other table's: a transaction that also held deliveries' could deadlock with a
            # query joining the two. A send that finds the event gone meanwhile does nothing.
            async with hub.database.transaction() as tx:
                if not await partitions.detach(tx, partition):
                    continue  # the table was busy: the next run tries again
        async with hub.database.transaction() as tx:
            counts["deliveries_cancelled"] += await delivery_retention.cancel_for_events_in(
                tx, partition, now
            )
        # A dropped partition fires no trigger: its events' ids are freed first, batch by
        # batch (until then a retry of one of them is still refused, as if it were stored).
        after = ""
        while True:
            async with hub.database.transaction() as tx:
                released, last = await partitions.release_event_ids(
                    tx, partition, after=after, limit=settings.retention_batch_size * 10
                )
            counts["events"] += released
            if last is None:
                break
            after = last
            await pacer.pause()
        await _drop(hub, counts, partition)
    for table, count, in_use in (
        ("deliveries", "deliveries", delivery_retention.partition_has_open),
        ("delivery_attempts", "attempts", delivery_retention.attempts_partition_in_use),
    ):
        for partition in await _due(hub, table, deliveries_before):
            if partition.attached:
                async with hub.database.transaction() as tx:
                    if await in_use(tx, partition) or not await partitions.detach(tx, partition):
                        continue
            async with hub.database.read() as connection:
                counts[count] += await partitions.row_count(connection, partition)
            await _drop(hub, counts, partition)


async def _due(hub: Core, table: str, before: datetime) -> list[partitions.Partition]:
    async with hub.database.read() as connection:
        left = await partitions.detached(connection, table)
        ranges = await partitions.attached(connection, table)
    return left + [partition for partition in ranges if partition.end <= before]


async def _drop(hub: Core, counts: dict[str, int], partition: partitions.Partition) -> None:
    async with hub.database.transaction() as tx:
        await partitions.drop(tx, partition)
    counts["partitions"] += 1


def _simple(hub: Core, now: datetime) -> Iterator[tuple[str, _Prune, datetime]]:
    settings = hub.settings
    yield (
        "attempts",
        delivery_retention.prune_test_attempts,
        _batched_cutoff(hub, now - timedelta(days=settings.retention_deliveries_days)),
    )
    yield (
        "flow_runs",
        flow_retention.prune_runs,
        now - timedelta(days=settings.flow_run_retention_days),
    )
    yield (
        "sync_runs",
        sync_retention.prune_runs,
        now - timedelta(days=settings.retention_sync_runs_days),
    )


def install(hub: Core) -> None:
    async def run(ctx: JobContext) -> None:
        await expire(hub)

    hub.registry.task(TASK, queue="default")(run)
    hub.registry.periodic(
        Periodic(TASK, TASK, every_seconds=hub.settings.retention_interval_seconds)
    )
