"""Time partitions of ``events``, ``deliveries`` and ``delivery_attempts`` (migration 0028,
docs/scaling.md "Retention: batched deletes and partitioning").

On PostgreSQL each of the three tables is range-partitioned by its time column, one
partition per UTC week from Monday (:data:`SPAN`), named ``<table>_p<YYYYMMDD>`` after its
first day, plus a DEFAULT
partition ``<table>_default`` so that an insert never fails for want of a partition (a
clock far off, or partitions not made in time). ``partitions.maintain`` (operations)
makes :data:`AHEAD` partitions ahead of time; ``retention.expire`` detaches and
drops the ones past their retention. SQLite keeps one table each
(:attr:`Database.partitioned_by_time` is False) and expires rows by batched deletes.

``events.id`` stays unique across partitions through ``event_ids`` (id primary key),
claimed by a ``BEFORE INSERT`` trigger on ``events`` that skips the row when the id is
taken, so ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` reports duplicates as before;
an ``AFTER DELETE`` trigger releases the id of a deleted event. A dropped partition fires
no trigger: :func:`release_event_ids` frees its ids from the detached table first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, TableClause, column, table, text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "AHEAD",
    "SPAN",
    "TIME_COLUMNS",
    "Partition",
    "attached",
    "create",
    "create_ahead_sync",
    "detach",
    "detached",
    "drop",
    "floor",
    "literal",
    "missing",
    "name_of",
    "of",
    "release_event_ids",
    "row_count",
]

SPAN = timedelta(days=7)
"""One partition's range. A week rather than a day: with 90 days kept, 16 partitions rather
than 99, and a lookup by id (which carries no time, so probes every partition) plans in
about a millisecond instead of tens (docs/scaling.md). The price: a row goes up to a week
after its retention, with its week."""
AHEAD = 2
"""Partitions made ahead of the clock, besides the current one: two weeks without
maintenance are survived."""
TIME_COLUMNS = {
    "events": "received_at",
    "deliveries": "created_at",
    "delivery_attempts": "started_at",
}
# Spans are counted from a Monday: weeks start on Mondays, 00:00 UTC.
_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)
_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<start>\d{8})$")
_BOUND = re.compile(r"FROM \('(?P<start>[^']+)'\) TO \('(?P<end>[^']+)'\)")
# A detach waits at most this long for the parent's lock (it needs it exclusively, for a
# moment): rather than queue ingest behind it, it gives up and the next run tries again.
_LOCK_TIMEOUT = "2s"
# The triggers of ``event_ids`` leave it alone while rows only move between partitions.
KEEP_EVENT_IDS = "renkei.keep_event_ids"


@dataclass(frozen=True)
class Partition:
    """One range partition (``start`` inclusive, ``end`` exclusive); ``attached`` False: a
    table left detached by a run that stopped before dropping it."""

    table: str
    name: str
    start: datetime
    end: datetime
    attached: bool = True


def floor(moment: datetime) -> datetime:
    """The start of the span ``moment`` falls in."""
    spans = (moment - _EPOCH) // SPAN
    return _EPOCH + spans * SPAN


def name_of(table_name: str, moment: datetime) -> str:
    """The name of the table's partition that holds ``moment``."""
    return f"{table_name}_p{floor(moment).astimezone(UTC):%Y%m%d}"


def of(partition: Partition, like: TableClause) -> TableClause:
    """The partition as a table to query, with ``like``'s columns."""
    return table(partition.name, *(column(each.name) for each in like.columns))


def literal(moment: datetime) -> str:
    """``moment`` as a SQL timestamp literal in UTC, for partition bounds."""
    return moment.astimezone(UTC).strftime("'%Y-%m-%d %H:%M:%S+00'")


def _ranges(now: datetime) -> list[datetime]:
    first = floor(now)
    return [first + n * SPAN for n in range(AHEAD + 1)]


async def attached(connection: AsyncConnection, table_name: str) -> list[Partition]:
    """The table's range partitions, oldest first (not the DEFAULT one)."""
    await connection.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    rows = await connection.execute(
        text(
            "SELECT child.relname, pg_get_expr(child.relpartbound, child.oid)"
            " FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid"
            " WHERE pg_inherits.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": table_name},
    )
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match is None:
            continue  # DEFAULT
        start, end = (datetime.fromisoformat(match[key] + ":00") for key in ("start", "end"))
        found.append(Partition(table_name, name, start, end))
    return sorted(found, key=lambda partition: partition.start)


async def detached(connection: AsyncConnection, table_name: str) -> list[Partition]:
    """Tables named as the table's partitions but attached to nothing: an expiry that
    detached them and stopped before the drop (its end is taken as a span past its start)."""
    rows = await connection.execute(
        text(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition"
            " AND relnamespace = current_schema()::regnamespace AND relname LIKE :pattern"
        ),
        {"pattern": f"{table_name}_p%"},
    )
    found = []
    for (name,) in rows:
        match = _NAME.match(name)
        if match is None or match["table"] != table_name:
            continue
        start = datetime.strptime(match["start"], "%Y%m%d").replace(tzinfo=UTC)
        found.append(Partition(table_name, name, start, start + SPAN, attached=False))
    return sorted(found, key=lambda partition: partition.start)


async def missing(connection: AsyncConnection, now: datetime) -> list[tuple[str, datetime]]:
    """The (table, start) of the partitions of the span ``now`` falls in and the
    :data:`AHEAD` next ones that do not exist yet."""
    return await connection.run_sync(_missing, now)


async def create(connection: AsyncConnection, table_name: str, start: datetime) -> str:
    """Make one partition (see :func:`create_ahead_sync`); its name. It locks its parent
    for a moment: the caller makes each in its own transaction, so that no transaction
    holds two parents (a query joining them would wait on one while holding the other)."""
    await connection.run_sync(_create, table_name, start)
    return name_of(table_name, start)


def create_ahead_sync(connection: Connection, now: datetime) -> list[str]:
    """Make the partitions of the span ``now`` falls in and :data:`AHEAD` more, for the
    three tables; the names of those made. Rows the DEFAULT partition holds for a new
    range (inserted while it was missing) move into it. In one transaction: for migration
    0028, which runs alone."""
    made = []
    for table_name, start in _missing(connection, now):
        _create(connection, table_name, start)
        made.append(name_of(table_name, start))
    return made


def _missing(connection: Connection, now: datetime) -> list[tuple[str, datetime]]:
    wanted = []
    for table_name in TIME_COLUMNS:
        existing = {
            name
            for (name,) in connection.execute(
                text(
                    "SELECT child.relname FROM pg_inherits"
                    " JOIN pg_class child ON child.oid = pg_inherits.inhrelid"
                    " WHERE pg_inherits.inhparent = CAST(:parent AS regclass)"
                ),
                {"parent": table_name},
            )
        }
        wanted += [
            (table_name, start)
            for start in _ranges(now)
            if name_of(table_name, start) not in existing
        ]
    return wanted


def _create(connection: Connection, table_name: str, start: datetime) -> None:
    """One partition. Creating it checks the DEFAULT partition for rows of its range; when
    there are some, they are moved first (into the table, made standalone, then attached)."""
    name, time_column = name_of(table_name, start), TIME_COLUMNS[table_name]
    low, high = literal(start), literal(start + SPAN)
    default = f"{table_name}_default"
    bound = f"FOR VALUES FROM ({low}) TO ({high})"
    in_range = f"{time_column} >= {low} AND {time_column} < {high}"
    # Making a partition takes its parent's exclusive lock anyway: taken first, no insert
    # can put a row of the range in the DEFAULT partition between the look and the make.
    connection.execute(text(f"LOCK TABLE {table_name} IN ACCESS EXCLUSIVE MODE"))
    if connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar():
        return  # made meanwhile, by another run
    stray = connection.execute(text(f"SELECT 1 FROM {default} WHERE {in_range} LIMIT 1")).first()  # noqa: S608 (names and times of our own)
    if stray is None:
        connection.execute(text(f"CREATE TABLE {name} PARTITION OF {table_name} {bound}"))
        return
    connection.execute(text(f"SET LOCAL {KEEP_EVENT_IDS} = 'on'"))
    connection.execute(
        text(f"CREATE TABLE {name} (LIKE {table_name} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {default} WHERE {in_range} RETURNING *)"  # noqa: S608
            f" INSERT INTO {name} SELECT * FROM moved"
        )
    )
    connection.execute(text(f"ALTER TABLE {table_name} ATTACH PARTITION {name} {bound}"))
    connection.execute(text(f"SET LOCAL {KEEP_EVENT_IDS} = 'off'"))


async def detach(connection: AsyncConnection, partition: Partition) -> bool:
    """Detach the partition, waiting at most a moment for the parent's lock: False when it
    did not get it (nothing changed; the next run tries again). Within the caller's
    transaction, so that what must happen with it (cancelling deliveries) commits with it."""
    await connection.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
    savepoint = await connection.begin_nested()
    try:
        await connection.execute(
            text(f"ALTER TABLE {partition.table} DETACH PARTITION {partition.name}")
        )
    except Exception as error:
        await savepoint.rollback()
        if _lock_timeout(error):
            return False
        raise
    await savepoint.commit()
    return True


def _lock_timeout(error: BaseException) -> bool:
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    return sqlstate == "55P03" or "lock timeout" in str(error)


async def drop(connection: AsyncConnection, partition: Partition) -> None:
    """Drop a detached partition (its own lock only: nothing else reads it any more)."""
    await connection.execute(text(f"DROP TABLE IF EXISTS {partition.name}"))


async def row_count(connection: AsyncConnection, partition: Partition) -> int:
    found = await connection.execute(text(f"SELECT count(*) FROM {partition.name}"))  # noqa: S608
    return int(found.scalar_one())


async def release_event_ids(
    connection: AsyncConnection, partition: Partition, *, after: str, limit: int
) -> tuple[int, str | None]:
    """Free the ids of up to ``limit`` events of a detached ``events`` partition, in id
    order from ``after``: (how many, the last id), (0, None) when none are left."""
    rows = await connection.execute(
        text(
            f"SELECT id FROM {partition.name} WHERE id > :after ORDER BY id LIMIT :limit"  # noqa: S608
        ),
        {"after": after, "limit": limit},
    )
    ids = [row[0] for row in rows]
    if not ids:
        return 0, None
    await connection.execute(text("DELETE FROM event_ids WHERE id = ANY(:ids)"), {"ids": ids})
    return len(ids), ids[-1]
