"""A sync run whose job fails for good shows that it failed, and why ("anywhere a job fails
for good, what it belongs to says so"). The ``on_dead`` hook of the sync tasks fails the run
with the job's error; the ``syncs.reconcile`` periodic fails the runs the hook cannot see (a
job sent to dead letter by the lease reaper or the worker registry, a job gone). ManualClock,
a Marketo sandbox on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from renkei.api.app import create_app
from renkei.cli.main import app as cli
from renkei.clock import ManualClock
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key
from renkei.store.tables.core import jobs
from renkei.store.tables.syncs import sync_runs
from renkei.syncs.engine import PUSH_PROFILE_TASK, RUN_TASK
from renkei.syncs.reconcile import reconcile_runs
from tests.support.server import ADMIN_TOKEN

from .harness import START, SyncRig, marketo, sync_rig

pytestmark = pytest.mark.timeout(180)

LEADS_PULL = {
    "name": "leads-in",
    "connection": "marketo",
    "direction": "pull",
    "object": "leads",
    "config": {"fields": ["email", "firstName"]},
}


async def _run_out_the_retries(rig: SyncRig) -> None:
    """The rig's schedule is 5 s four times: five attempts, then dead letter."""
    for _ in range(7):
        await rig.run()
        rig.clock.advance(seconds=6)


async def _job_states(rig: SyncRig, task: str) -> list[tuple[str, str | None]]:
    async with rig.hub.database.read() as connection:
        rows = await connection.execute(
            select(jobs.c.status, jobs.c.last_error).where(jobs.c.task == task)
        )
        return [(row.status, row.last_error) for row in rows]


async def test_a_pull_whose_job_dies_for_good_shows_failed_and_why(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    with marketo(clock, seed_leads=3) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            await rig.syncs.create(LEADS_PULL)
            # Marketo answers every REST call with a bare 502: a retryable error, on every
            # attempt, until the job has no attempt left.
            sandbox.fail_next_http(10_000, 502)
            run_id = await rig.syncs.run("leads-in")
            await _run_out_the_retries(rig)

            [(status, error)] = await _job_states(rig, RUN_TASK)
            assert status == "dead" and error
            run = await rig.syncs.get_run(run_id)
            assert run is not None
            assert run.status == "failed"
            assert run.finished_at is not None
            assert run.counts["failed"] == 1
            [recorded] = run.errors
            assert recorded["message"].startswith("the syncs.run job failed for good: ")
            assert error[:200] in recorded["message"]
            await _shown_failed(rig, run_id, error[:200], monkeypatch, tmp_path)

            # Nothing is left for the reconciler.
            clock.advance(seconds=rig.hub.settings.sync_reconcile_seconds + 1)
            found = await reconcile_runs(rig.hub)
            assert found.total == 0


async def _shown_failed(
    rig: SyncRig, run_id: str, error: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``GET /api/v1/syncs/{id}/runs`` and ``renkei syncs runs`` show it failed, and why."""
    transport = httpx.ASGITransport(app=create_app(rig.hub))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://renkei", headers=headers
    ) as api:
        answer = await api.get("/api/v1/syncs/leads-in/runs")
    assert answer.status_code == 200, answer.text
    [shown] = answer.json()["data"]
    assert (shown["id"], shown["status"]) == (run_id, "failed")
    assert error in shown["errors"][0]["message"]
    monkeypatch.setenv("RENKEI_DATABASE_URL", rig.hub.settings.database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    try:  # the CLI runs its own event loop
        ran = await asyncio.to_thread(CliRunner().invoke, cli, ["syncs", "runs", "leads-in"])
    finally:
        configure_logging("info", "json")  # the CLI logged to CliRunner's closed stderr
    assert ran.exit_code == 0, ran.output
    [listed] = json.loads(ran.stdout)
    assert (listed["id"], listed["status"]) == (run_id, "failed")
    assert error in listed["errors"][0]["message"]


async def test_the_reconciler_fails_runs_whose_job_died_unseen_or_vanished(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo(clock, seed_leads=3) as (_sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            await rig.syncs.create(LEADS_PULL)
            reaped = await rig.syncs.run("leads-in")
            vanished = await rig.syncs.run("leads-in")
            waiting = await rig.syncs.run("leads-in")
            # A worker killed on the job's last attempt: the lease reaper sends the job to
            # dead letter and calls no hook. Another job is gone without a trace (a bug to
            # come, a hand in the database). The third waits for its turn: left alone.
            async with rig.hub.database.transaction() as tx:
                await tx.execute(
                    update(sync_runs).where(sync_runs.c.id == reaped).values(status="running")
                )
                await tx.execute(
                    update(jobs)
                    .where(jobs.c.payload["run_id"].as_string() == reaped)
                    .values(status="dead", last_error="lease expired on the last attempt")
                )
                await tx.execute(
                    delete(jobs).where(jobs.c.payload["run_id"].as_string() == vanished)
                )
            # Too recent: a run is left alone for sync_reconcile_seconds.
            assert (await reconcile_runs(rig.hub)).total == 0

            clock.advance(seconds=rig.hub.settings.sync_reconcile_seconds + 1)
            found = await reconcile_runs(rig.hub)
            assert found.failed == 2
            first = await rig.syncs.get_run(reaped)
            second = await rig.syncs.get_run(vanished)
            third = await rig.syncs.get_run(waiting)
            assert first is not None and second is not None and third is not None
            assert (first.status, second.status, third.status) == ("failed", "failed", "queued")
            assert first.finished_at is not None and second.finished_at is not None
            assert first.errors[0]["message"] == (
                "the syncs.run job failed for good: lease expired on the last attempt"
            )
            assert second.errors[0]["message"] == "the syncs.run job failed for good: no job left"
            assert (await reconcile_runs(rig.hub)).total == 0

            # The waiting run still runs to the end.
            await rig.run()
            third = await rig.syncs.get_run(waiting)
            assert third is not None and third.status == "succeeded"


async def test_a_realtime_push_whose_job_dies_is_counted_failed_in_the_days_run(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (sandbox, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            await rig.syncs.create(
                {
                    "name": "leads-out",
                    "connection": "marketo",
                    "direction": "push",
                    "object": "leads",
                    "trigger": {"events": ["identify"]},
                }
            )
            await rig.identify("ann@example.com", {"firstName": "Ann"})
            await rig.run()  # the day's realtime run exists
            sandbox.fail_next_http(10_000, 502)
            await rig.identify("bob@example.com", {"firstName": "Bob"})
            await _run_out_the_retries(rig)

            states = await _job_states(rig, PUSH_PROFILE_TASK)
            [error] = [error for status, error in states if status == "dead"]
            assert error
            [run] = await rig.syncs.runs("leads-out")
            assert run.trigger == "realtime" and run.status == "running"  # the day goes on
            assert run.counts["failed"] == 1
            [recorded] = run.errors
            assert recorded["message"].startswith("the syncs.push_profile job failed for good: ")
            assert recorded["subject"] == "bob@example.com"
            # A realtime run has no job of its own: the reconciler leaves it alone.
            clock.advance(seconds=rig.hub.settings.sync_reconcile_seconds + 1)
            assert (await reconcile_runs(rig.hub)).total == 0
