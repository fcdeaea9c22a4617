"""Many-row writes that run straight on SQLite's inline write connection.

Every relayed event runs a few many-row statements (its delivery's insert; its attempt's
insert, the delivery's update and the job's delete). Executing one through SQLAlchemy
costs more Python than SQLite spends running it: the cache key, the parameters built and
processed row by row through the execution context, the greenlet hop. A
:class:`DirectWrite` compiles its statement once per set of row keys and, on SQLite,
turns rows into parameter tuples with the same bind processors and hands them to the
inline connection (``store/inline_sqlite.py``) in one call. Elsewhere, or for a statement
whose columns need defaults computed per row, it executes through SQLAlchemy as before:
what is stored is the same either way (tested on both backends).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Delete, Insert, Update

from renkei.store.chunks import few_sized_chunks
from renkei.store.inline_sqlite import InlineConnection

__all__ = ["DirectWrite", "inline_driver"]

_DRIVER = "renkei.inline_driver"


async def inline_driver(connection: AsyncConnection) -> InlineConnection:
    """The inline SQLite connection under a write transaction of ``Database.transaction``.

    Kept in the connection's ``info``, which lives as long as the database connection
    itself: asking SQLAlchemy for it is a greenlet hop, and every write asked."""
    driver = connection.info.get(_DRIVER)
    if driver is None:
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, InlineConnection), "SQLite writes go through the write engine"
        connection.info[_DRIVER] = driver
    return driver  # type: ignore[no-any-return]


_MISSING = object()  # a row without one of the plan's keys: SQLite refuses to bind it


class _Plan:
    __slots__ = ("processed", "sql", "taken")

    def __init__(
        self,
        sql: str,
        names: Sequence[str],
        fixed: Mapping[str, Any],
        processors: Mapping[str, Callable[[Any], Any]],
    ) -> None:
        self.sql = sql
        # Each parameter from the row by name, else its value bound in the statement.
        self.taken = tuple((name, fixed.get(name, _MISSING)) for name in names)
        self.processed = tuple(
            (index, processors[name]) for index, name in enumerate(names) if name in processors
        )

    def parameters(self, row: Mapping[str, Any]) -> list[Any]:
        values = [row.get(name, default) for name, default in self.taken]
        for index, processor in self.processed:
            values[index] = processor(values[index])
        return values


class DirectWrite:
    """``await write.executemany(connection, rows)``: ``statement`` with each row."""

    def __init__(self, statement: Insert | Update | Delete) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, ...], _Plan | None] = {}

    async def executemany(
        self, connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        if not rows:
            return
        plan = self._plan_for(connection, rows)
        if plan is None:
            await connection.execute(self.statement, list(rows))
            return
        driver = await inline_driver(connection)
        driver.executemany_now(plan.sql, [plan.parameters(row) for row in rows])

    async def insert_ids(
        self, connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> list[int] | None:
        """Insert ``rows`` (an insert into a table with an integer key) and return their
        keys in the order of ``rows``; None where that takes ``RETURNING`` (not SQLite).

        SQLite's writer holds the database's one write lock, so the rows of one statement
        get consecutive keys ending at the last inserted rowid (as events' ``seq``:
        store/event_writes.py)."""
        plan = self._plan_for(connection, rows) if rows else None
        if plan is None:
            return None
        driver = await inline_driver(connection)
        head, _, group = plan.sql.partition(" VALUES ")
        ids: list[int] = []
        for chunk in few_sized_chunks(rows):
            sql = f"{head} VALUES {', '.join([group] * len(chunk))}"
            parameters = [value for row in chunk for value in plan.parameters(row)]
            inserted, last = driver.insert(sql, parameters)
            if inserted != len(chunk):
                raise AssertionError(f"inserted {inserted} rows of {len(chunk)}")
            ids += range(last - inserted + 1, last + 1)
        return ids

    def _plan_for(
        self, connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> _Plan | None:
        """The plan for rows with ``rows[0]``'s keys; None off SQLite, or where SQLAlchemy
        must run the statement itself."""
        if connection.dialect.name != "sqlite":
            return None
        keys = tuple(rows[0])
        return self._plans[keys] if keys in self._plans else self._plan(keys, connection.dialect)

    def _plan(self, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=list(keys))
        names = tuple(compiled.positiontup or ())
        needs_defaults = compiled.insert_prefetch or compiled.update_prefetch
        plan = None
        if not needs_defaults and all(n in keys or n in compiled.binds for n in names):
            plan = _Plan(
                sql=compiled.string,
                names=names,
                fixed={n: compiled.binds[n].effective_value for n in names if n not in keys},
                processors=dict(compiled._bind_processors),
            )
        self._plans[keys] = plan
        return plan
