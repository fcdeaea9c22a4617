"""A realtime sync whose connection was deleted does not stop ingest: the fan-out used to
look the connection up in the ingest transaction and fail it (every identify refused while
the sync stayed enabled); now the sync is passed over. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from renkei.clock import ManualClock
from renkei.connectors.connections import delete_connection

from .harness import START, marketo, sync_rig

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("pushed", ["leads", "activities"])
async def test_ingest_goes_on_when_a_realtime_syncs_connection_is_gone(
    database_url: str, pushed: str
) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            await rig.syncs.create(
                {
                    "name": "realtime",
                    "connection": "marketo",
                    "direction": "push",
                    "object": pushed,
                    "trigger": {"events": ["identify"]},
                }
            )
            async with rig.hub.database.transaction() as tx:
                await delete_connection(tx, "marketo")

            await rig.identify("sue@example.com", {"name": "Sue"})
            await rig.run()

            profile = await rig.profile("sue@example.com")
            assert profile is not None and profile.traits["name"]["value"] == "Sue"
            assert sandbox.lead_by_email("sue@example.com") is None
