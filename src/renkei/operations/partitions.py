"""``partitions.maintain``: the periodic job that makes the weekly partitions of events,
deliveries and attempts ahead of time, where the database has them
(``Database.partitioned_by_time``, store/partitions.py; docs/scaling.md).

It runs hourly and makes the partitions of this week and the next two that are missing,
counted by the hub's clock (the one ``received_at`` and ``created_at`` are stamped with):
two weeks of missed runs are survived, and past that rows land in the DEFAULT partition
and move into their week's partition when it is made. Expiry is ``retention.expire``'s job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

from renkei.queue import JobContext, Periodic
from renkei.store import partitions

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["EVERY_SECONDS", "TASK", "install", "maintain"]

TASK = "partitions.maintain"
EVERY_SECONDS = 3600.0


async def maintain(hub: Core) -> list[str]:
    """Make the missing partitions from this week's to :data:`partitions.AHEAD` ahead; the
    names of those made (none where the database has no partitions)."""
    if not hub.database.partitioned_by_time:
        return []
    async with hub.database.read() as connection:
        wanted = await partitions.missing(connection, hub.clock.now())
    made = []
    for table, start in wanted:
        async with hub.database.transaction() as tx:
            # Making a partition locks its parent for a moment: rather than queue ingest
            # behind a long query on it, give up and let the next tick try again.
            await tx.execute(text("SET LOCAL lock_timeout = '2s'"))
            made.append(await partitions.create(tx, table, start))
    return made


def install(hub: Core) -> None:
    if not hub.database.partitioned_by_time:
        return

    async def run(ctx: JobContext) -> None:
        await maintain(hub)

    hub.registry.task(TASK, queue="default")(run)
    hub.registry.periodic(Periodic(TASK, TASK, every_seconds=EVERY_SECONDS))
