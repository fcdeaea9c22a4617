"""The quota planner's picture of a connection's day (usecases.planner, both backends):
batch calls by the hour their run started, realtime calls the rest of the used quota."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert

from renkei.errors import NotFound
from renkei.store.tables.connectors import connector_quota_days
from renkei.syncs import model
from renkei.usecases import connections, syncs
from renkei.usecases.planner import day_picture
from tests.usecases.actors import READER, WRITER, local_hub


async def test_the_day_hour_by_hour_batch_against_realtime(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        row = await connections.create_connection(
            hub,
            WRITER,
            name="marketo",
            connector="marketo",
            config={"base_url": "https://123-ABC-456.mktorest.com"},
            credentials={"client_id": "id", "client_secret": "secret"},
            limits={"daily_quota": {"calls": 240}},
        )
        sync = await syncs.create_sync(
            hub,
            WRITER,
            {
                "name": "leads",
                "connection": "marketo",
                "direction": "pull",
                "object": "leads",
                "trigger": {"every_seconds": 1800},
            },
        )
        status = await syncs.quota(hub, READER, "marketo")
        resets_at = datetime.fromisoformat(status["resets_at"])
        day_start = resets_at - timedelta(days=1)
        now = hub.clock.now()
        async with hub.database.transaction() as tx:
            # Created in the order they started, as runs are (their ids sort by time).
            for trigger, started, calls in (
                ("schedule", day_start - timedelta(hours=1), 100),  # yesterday: not counted
                ("manual", now - timedelta(seconds=5), 5),
                ("realtime", now - timedelta(seconds=4), 3),  # realtime: not batch
            ):
                run_id = await model.new_run(tx, sync.id, trigger, now=started)
                await model.add_to_run(tx, run_id, {"calls": calls}, [], status="succeeded")
            await tx.execute(
                insert(connector_quota_days).values(
                    limiter=row.id, resets_at=resets_at, quota=240, used=20, updated_at=now
                )
            )

        picture = await day_picture(hub, READER, "marketo")

        assert picture.day_start == day_start
        assert len(picture.hours) == 24
        hour = int((now - timedelta(seconds=5) - day_start) / timedelta(hours=1))
        assert [h.batch for h in picture.hours] == [5 if i == hour else 0 for i in range(24)]
        assert [h.elapsed for h in picture.hours] == [i <= hour for i in range(24)]
        assert (picture.batch, picture.realtime) == (5, 15)
        assert picture.realtime_per_hour == pytest.approx(15 / (hour + 1))
        assert picture.budget_per_hour == pytest.approx(10)
        assert picture.quota["used"] == 20


async def test_an_unknown_connection_is_not_found(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(NotFound):
            await day_picture(hub, READER, "nope")
