"""store.statements: the insert-ignoring and upsert every package uses, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from renkei.store import Database
from renkei.store.statements import insert_ignoring, upsert
from renkei.store.tables.connectors import connector_quota_days as days

DAY = datetime(2026, 12, 8, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _row(used: int, limiter: str = "vendor") -> dict[str, object]:
    return {"limiter": limiter, "resets_at": DAY, "quota": 10, "used": used, "updated_at": NOW}


async def _used(database: Database) -> list[tuple[str, int]]:
    async with database.read() as connection:
        found = await connection.execute(select(days.c.limiter, days.c.used).order_by("limiter"))
        return [(row.limiter, row.used) for row in found]


async def test_insert_ignoring_skips_a_taken_key_and_says_so(database: Database) -> None:
    async with database.transaction() as tx:
        first = await tx.execute(insert_ignoring(database, days).values(_row(1)))
        again = await tx.execute(insert_ignoring(tx, days).values(_row(5)))
        # Many rows at once: the taken one is skipped, the new one goes in.
        await tx.execute(insert_ignoring(tx, days), [_row(7), _row(2, "other")])
    assert (first.rowcount, again.rowcount) == (1, 0)
    assert await _used(database) == [("other", 2), ("vendor", 1)]


async def test_insert_ignoring_returns_only_the_rows_it_inserted(database: Database) -> None:
    async with database.transaction() as tx:
        await tx.execute(insert_ignoring(tx, days).values(_row(1)))
        returned = await tx.execute(
            insert_ignoring(tx, days).values([_row(3), _row(4, "other")]).returning(days.c.limiter)
        )
        assert returned.scalars().all() == ["other"]


async def test_upsert_updates_the_named_columns_and_the_expressions(database: Database) -> None:
    keys = ["limiter", "resets_at"]
    async with database.transaction() as tx:
        await tx.execute(upsert(tx, days, keys=keys, values=_row(1), update=["used"]))
        await tx.execute(upsert(tx, days, keys=keys, values=_row(4), update=["used"]))
    assert await _used(database) == [("vendor", 4)]
    async with database.transaction() as tx:
        added = upsert(database, days, keys=keys, values=_row(1), set_={"used": days.c.used + 3})
        assert (await tx.execute(added.returning(days.c.used))).scalar_one() == 7


async def test_upsert_where_refuses_leaves_the_row_as_it_was(database: Database) -> None:
    keys = ["limiter", "resets_at"]
    async with database.transaction() as tx:
        await tx.execute(insert_ignoring(tx, days).values(_row(9)))
        capped = upsert(
            tx,
            days,
            keys=keys,
            values=_row(1),
            set_={"used": days.c.used + 5},
            where=days.c.used + 5 <= 10,
        )
        assert (await tx.execute(capped.returning(days.c.used))).first() is None
    assert await _used(database) == [("vendor", 9)]


async def test_upsert_add_adds_each_offered_row_to_the_stored_one(database: Database) -> None:
    """Counters: many rows at once, each key's offered value added to what is stored."""
    keys = ["limiter", "resets_at"]
    async with database.transaction() as tx:
        counting = upsert(tx, days, keys=keys, add=["used"])
        await tx.execute(counting, [_row(2), _row(3, "other")])
        await tx.execute(counting, [_row(5), _row(1, "other")])
    assert await _used(database) == [("other", 4), ("vendor", 7)]
