"""A connection's failure rate over the window: calls counted in process, added to
per-minute rows (``connection_calls``) by flushes, read by the evaluator. A connection
failing 60 % of its calls now and then (never long enough for ``connection.failing``) opens
``connection_failure_rate``, notified once, and it resolves after the quiet period once the
calls succeed. Flushes from two hubs (two processes) into the same minute add up; old
minutes are pruned. ManualClock, a real vendor on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select

from renkei.clock import ManualClock
from renkei.connectors.call_buckets import flush, minute_of
from renkei.errors import RenkeiError
from renkei.hub import Hub
from renkei.store import Database
from renkei.store.tables.alerts import connection_calls
from renkei.usecases import LOCAL, alerts, connections, webhooks
from tests.flows.conftest import START
from tests.flows.receivers import Receiver, assert_signed, receiver
from tests.support.server import test_settings as settings_for

pytestmark = pytest.mark.timeout(120)

SECRET = "whsec_" + base64.b64encode(b"connection-rate-test-secret!").decode()
QUIET = 600.0
WINDOW = 300.0
WATCHED = ["alert.opened", "alert.resolved", "connection.failing"]
# Six failures in ten calls, never two in a row for long: the streak never lasts.
NOW_AND_THEN = [500, 200, 500, 500, 200, 500, 200, 500, 500, 200]


@pytest.fixture
def vendor() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def _hub(database_url: str, **overrides: Any) -> Hub:
    settings = settings_for(
        database_url,
        alert_quiet_seconds=QUIET,
        alert_failure_window_seconds=WINDOW,
        alert_failure_min_count=5,
        connection_failing_after_seconds=60,
        **overrides,
    )
    return Hub(settings, clock=ManualClock(START))


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    hub = _hub(database_url)
    yield hub
    await hub.stop()


async def _connect(hub: Hub, vendor: Receiver, name: str = "points") -> str:
    row = await connections.create_connection(
        hub,
        LOCAL,
        name=name,
        connector="http",
        # A POST is not repeated in process: one call, one attempt.
        config={"url": f"{vendor.url}/{name}", "method": "POST", "body": "{}"},
    )
    return str(row.id)


async def _call(hub: Hub, name: str = "points") -> bool:
    try:
        await connections.call(hub, LOCAL, name, "request", {})
    except RenkeiError:
        return False
    return True


async def _run(hub: Hub) -> None:
    worker = hub.new_worker(run_schedules=False)
    while await worker.run_burst():
        pass


async def _rows(hub: Hub) -> list[tuple[str, Any, int, int]]:
    async with hub.database.read() as connection:
        rows = await connection.execute(
            select(connection_calls).order_by(
                connection_calls.c.connection_id, connection_calls.c.minute
            )
        )
        return [tuple(row) for row in rows.tuples()]


def _delivered(hooks: Receiver, event_type: str) -> list[dict[str, Any]]:
    requests = hooks.to("/ops")
    for request in requests:
        assert_signed(SECRET, request)
    return [r.json()["data"] for r in requests if r.json()["type"] == event_type]


async def test_a_connection_failing_now_and_then_opens_a_rate_alert_that_resolves_when_quiet(
    hub: Hub, vendor: Receiver, hooks: Receiver
) -> None:
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    fields = {"name": "ops", "url": hooks.url + "/ops", "event_types": WATCHED}
    await webhooks.create_endpoint(hub, LOCAL, fields, secret=SECRET)
    connection_id = await _connect(hub, vendor)
    vendor.answer("/points", *((status, {}) for status in NOW_AND_THEN))

    outcomes = []
    for _ in NOW_AND_THEN:
        outcomes.append(await _call(hub))
        clock.advance(seconds=10)
        if len(outcomes) % 4 == 0:  # flushed now and then, as the loop does
            await flush(hub, hub.connectors.runtime.counts)
    await flush(hub, hub.connectors.runtime.counts)
    assert outcomes.count(False) == 6
    assert sum(calls for _, _, calls, _ in await _rows(hub)) == 10

    await hub.alerts.evaluate()
    await hub.alerts.evaluate()  # still holding: the same alert, seen twice
    await _run(hub)
    [alert] = await alerts.list_alerts(hub, LOCAL, kind="connection_failure_rate")
    assert (alert.status, alert.subject_type, alert.subject_id) == (
        "open",
        "connection",
        connection_id,
    )
    assert alert.count == 2
    assert alert.sample is not None
    assert (alert.sample["failed"], alert.sample["calls"]) == (6, 10)
    assert list(await alerts.list_alerts(hub, LOCAL, kind="connection_failing")) == []
    assert _delivered(hooks, "connection.failing") == []
    [opened] = _delivered(hooks, "alert.opened")
    assert (opened["alert_id"], opened["kind"]) == (alert.id, "connection_failure_rate")

    # The vendor is well again: the calls succeed, the rate drops under the threshold,
    # and nothing bumps the alert; after the quiet period it resolves, once.
    for _ in range(5):
        assert await _call(hub)
    await flush(hub, hub.connectors.runtime.counts)
    await hub.alerts.evaluate()
    assert (await alerts.get_alert(hub, LOCAL, alert.id)).count == 2
    clock.advance(seconds=QUIET + 60)
    await hub.alerts.evaluate()
    await hub.alerts.evaluate()
    await _run(hub)
    assert (await alerts.get_alert(hub, LOCAL, alert.id)).status == "resolved"
    assert [data["alert_id"] for data in _delivered(hooks, "alert.resolved")] == [alert.id]
    assert len(_delivered(hooks, "alert.opened")) == 1


async def test_under_the_rate_too_few_calls_or_deleted_opens_nothing(
    hub: Hub, vendor: Receiver
) -> None:
    for name in ("steady", "quiet", "gone"):
        await _connect(hub, vendor, name)
    vendor.answer("/steady", (500, {}), (200, {}), (200, {}), (500, {}), (200, {}))
    vendor.answer("/quiet", (500, {}))
    vendor.answer("/gone", (500, {}))
    for _ in range(5):
        await _call(hub, "steady")  # two of five fail: under 50 %
        await _call(hub, "gone")  # all fail, but the connection is deleted below
    for _ in range(4):
        await _call(hub, "quiet")  # all fail, but four calls say too little
    await flush(hub, hub.connectors.runtime.counts)
    assert len(await _rows(hub)) == 3
    await connections.delete_connection(hub, LOCAL, "gone")
    await hub.alerts.evaluate()
    assert list(await alerts.list_alerts(hub, LOCAL, kind="connection_failure_rate")) == []


async def test_limits_and_refused_records_are_not_failures(
    database_url: str, vendor: Receiver
) -> None:
    """A 429 holds calls back (left out of the rate); a 400 is the vendor refusing one
    request, a call that reached a working vendor; a 500 is a failure."""
    hub = _hub(database_url, connector_max_wait_seconds=0)  # a 429 is not waited out here
    try:
        connection_id = await _connect(hub, vendor)
        vendor.answer("/points", (429, {}), (400, {}), (500, {}), (200, {}))
        for _ in range(4):
            await _call(hub)
        assert len(vendor.to("/points")) == 4
        assert hub.connectors.runtime.counts.take() == {connection_id: (3, 1)}
    finally:
        await hub.stop()


async def test_two_processes_flushing_into_the_same_minute_lose_no_count(
    database_url: str,
) -> None:
    """Two hubs (two engines, as two processes) count calls to the same connections and
    flush at the same moment, again and again: every count is in the table."""
    first, second = _hub(database_url), _hub(database_url)
    rounds = 15
    try:
        for number in range(rounds):
            for hub, calls in ((first, 3), (second, 5)):
                counts = hub.connectors.runtime.counts
                for _ in range(calls):
                    counts.succeeded("conn_a")
                    counts.failed("conn_b")
                counts.failed(f"conn_{number}")
            await asyncio.gather(
                flush(first, first.connectors.runtime.counts),
                flush(second, second.connectors.runtime.counts),
            )
        rows = await _rows(first)
    finally:
        await first.stop()
        await second.stop()
    minute = minute_of(START)
    by_id = {key: (calls, failures) for key, at, calls, failures in rows if at == minute}
    assert len(rows) == len(by_id) == 2 + rounds
    assert by_id["conn_a"] == (8 * rounds, 0)
    assert by_id["conn_b"] == (8 * rounds, 8 * rounds)
    assert all(by_id[f"conn_{number}"] == (2, 2) for number in range(rounds))


async def test_a_flush_that_fails_keeps_its_counts_for_the_next(database_url: str) -> None:
    hub = _hub(database_url)
    counts = hub.connectors.runtime.counts
    counts.failed("conn_a")
    hub.database = type(hub.database)("sqlite+aiosqlite:////nonexistent/dir/renkei.db")
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        await flush(hub, counts)
    counts.succeeded("conn_a")
    assert counts.take() == {"conn_a": (2, 1)}
    await hub.database.dispose()


async def test_a_running_hub_flushes_on_its_own_and_when_it_stops(
    database_url: str, vendor: Receiver
) -> None:
    hub = _hub(database_url, connection_calls_flush_seconds=0.05)
    await hub.start(with_worker=False)
    try:
        connection_id = await _connect(hub, vendor)
        assert await _call(hub)
        deadline = time.monotonic() + 30
        while not await _rows(hub) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [(key, calls) for key, _, calls, _ in await _rows(hub)] == [(connection_id, 1)]
        assert await _call(hub)
    finally:
        await hub.stop()
    checker = _hub(database_url)
    try:
        assert [(key, calls) for key, _, calls, _ in await _rows(checker)] == [(connection_id, 2)]
    finally:
        await checker.stop()


async def test_minutes_older_than_the_retention_are_pruned(hub: Hub) -> None:
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    counts = hub.connectors.runtime.counts
    counts.failed("conn_old")
    await flush(hub, counts)
    clock.advance(days=1, minutes=2)
    counts.succeeded("conn_new")
    await flush(hub, counts)
    await hub.alerts.evaluate()
    rows = await _rows(hub)
    assert [(key, at) for key, at, _, _ in rows] == [("conn_new", minute_of(clock.now()))]
    assert clock.now() - timedelta(days=1) > minute_of(START)


async def test_the_migration_makes_the_table_the_metadata_describes(database: Database) -> None:
    def reflect(sync: Any) -> tuple[set[str], list[str], set[str]]:
        inspector = inspect(sync)
        columns = {column["name"] for column in inspector.get_columns("connection_calls")}
        key = inspector.get_pk_constraint("connection_calls")["constrained_columns"]
        indexes = {index["name"] for index in inspector.get_indexes("connection_calls")}
        return columns, key, indexes

    async with database.read() as connection:
        columns, key, indexes = await connection.run_sync(reflect)
    assert columns == {column.name for column in connection_calls.columns}
    assert key == ["connection_id", "minute"]
    assert indexes == {index.name for index in connection_calls.indexes}
