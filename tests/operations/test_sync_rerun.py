"""A failed sync run, rerun once the vendor is back (``POST /api/v1/syncs/{ref}/runs/{run_id}
/rerun``): the rerun is a new run of the sync that succeeds, and asking again answers that
rerun instead of running a third time. A Marketo sandbox on loopback, ManualClock, SQLite
and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from renkei.api.app import create_app
from renkei.clock import ManualClock
from renkei.errors import Conflict
from renkei.usecases import LOCAL
from renkei.usecases.operations import get_operation, rerun_sync_run
from tests.support.server import ADMIN_TOKEN
from tests.syncs.harness import START, marketo, sync_rig
from tests.syncs.test_dead_runs import LEADS_PULL, _run_out_the_retries

pytestmark = pytest.mark.timeout(120)


async def test_a_failed_sync_run_reruns_once(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo(clock, seed_leads=3) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            sync = await rig.syncs.create(LEADS_PULL)
            outage = sandbox.fail_next_http(10_000, 502)
            failed_id = await rig.syncs.run("leads-in")
            await _run_out_the_retries(rig)
            failed = await rig.syncs.get_run(failed_id)
            assert failed is not None and failed.status == "failed"

            outage.remaining = 0  # the vendor is back
            # The API on the rig's hub (its ManualClock), in process: the route as a client
            # calls it.
            transport = httpx.ASGITransport(app=create_app(rig.hub, with_worker=False))
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://renkei", headers=headers
            ) as api:
                answer = await api.post(f"/api/v1/syncs/leads-in/runs/{failed_id}/rerun")
                assert answer.status_code == 202, answer.text
                rerun_id = answer.json()["id"]
                assert rerun_id != failed_id and answer.json()["trigger"] == "rerun"
                unknown = await api.post("/api/v1/syncs/leads-in/runs/run_nope/rerun")
                assert unknown.status_code == 404, unknown.text
            operation = await get_operation(rig.hub, LOCAL, answer.json()["operation_id"])
            assert operation.kind == "sync_run.rerun" and operation.status == "done"
            assert operation.result == {"run_id": rerun_id}
            await rig.run()
            done = await rig.syncs.get_run(rerun_id)
            assert done is not None and done.status == "succeeded"

            again, same = await rerun_sync_run(rig.hub, LOCAL, sync.id, failed_id)
            assert (again.id, same.id) == (operation.id, rerun_id)
            with pytest.raises(Conflict):
                await rerun_sync_run(rig.hub, LOCAL, sync.id, rerun_id)  # it succeeded
