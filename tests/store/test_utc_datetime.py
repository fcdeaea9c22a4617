"""UTCDateTime: on SQLite, its own one-step conversions write the text SQLAlchemy's DateTime
wrote (rows written before still compare and order right) and read back aware UTC times;
on both backends a time survives the round trip and a naive one is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError

from renkei.store import Database
from renkei.store.types import UTCDateTime

TIMES = [
    datetime(2026, 12, 7, 10, 42, 2, 84749, tzinfo=UTC),
    datetime(2026, 12, 7, 10, 42, 2, tzinfo=UTC),  # no microseconds: still six digits
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))),  # stored as 00:00 UTC
]


@pytest.mark.parametrize("when", TIMES)
def test_sqlite_text_is_what_sqlalchemy_wrote(when: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(when) == theirs(when.astimezone(UTC).replace(tzinfo=None))
    read = UTCDateTime().result_processor(dialect, None)
    assert read is not None
    back = read(ours(when))
    assert back == when and back.tzinfo is UTC


def test_sqlite_refuses_a_naive_time() -> None:
    bind = UTCDateTime().bind_processor(sqlite.dialect())
    assert bind is not None
    with pytest.raises(ValueError, match="naive"):
        bind(datetime(2026, 1, 1))


async def test_round_trip_and_order(database: Database) -> None:
    table = Table(
        "utc_datetime_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime),
    )
    async with database.transaction() as tx:
        await tx.run_sync(lambda sync: table.create(sync))
        await tx.execute(insert(table), [{"id": n, "at": at} for n, at in enumerate(TIMES)])
    async with database.read() as connection:
        rows = (await connection.execute(select(table.c.id, table.c.at))).all()
        later = (
            await connection.execute(
                select(table.c.id).where(table.c.at > TIMES[1]).order_by(table.c.at)
            )
        ).scalars()
        assert list(later) == [0, 3]
    assert {n: at for n, at in rows} == dict(enumerate(TIMES))
    assert all(at.tzinfo is UTC for _, at in rows)
    with pytest.raises(StatementError):
        async with database.transaction() as tx:
            await tx.execute(insert(table).values(id=99, at=datetime(2026, 1, 1)))


def test_sqlite_text_of_the_same_time_again_and_in_turn() -> None:
    """The bind keeps the last time's text: repeats and alternations still write each
    time's own text."""
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and theirs is not None
    for when in [*TIMES, *TIMES, TIMES[4], TIMES[4], TIMES[0], TIMES[4]]:
        assert ours(when) == theirs(when.astimezone(UTC).replace(tzinfo=None))
