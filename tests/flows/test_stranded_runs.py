"""No run is left without a job to move it ("no event left behind"). In a flow with a
profile action one person's runs go one after another, so a run that never finishes would
hold that person's later runs back for ever. When a step or start job fails for good (an
unexpected exception past its retries), the run is marked ``failed`` with the job's error
and the lane's next queued run starts; the ``flows.reconcile`` periodic catches what the
``on_dead`` hook cannot see (a worker killed on the job's last attempt, whose job the lease
reaper sends to dead letter). ManualClock, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text, update
from typer.testing import CliRunner

from renkei.api.app import create_app
from renkei.cli.main import app as cli
from renkei.events.profiles import get_profile, resolve_profile
from renkei.flows.engine import START_TASK, STEP_TASK
from renkei.flows.feature import RECONCILE_TASK
from renkei.flows.reconcile import reconcile_runs
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key
from renkei.store.tables.core import jobs
from renkei.store.tables.flows import flow_runs
from tests.flows.conftest import FlowBench
from tests.support.server import ADMIN_TOKEN

pytestmark = pytest.mark.timeout(120)


def _scoring(*, delay: bool = False) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"delay": "1m"}] if delay else []
    steps.append(
        {
            "id": "save",
            "action": {
                "profile": {
                    "increment": {"score": "{{ event.data.properties.points }}"},
                    "traits": {"last": "{{ event.data.properties.n }}"},
                }
            },
        }
    )
    return {"trigger": {"event_types": ["track"], "names": ["Scored"]}, "steps": steps}


async def _score(bench: FlowBench, user_id: str, n: int, points: int) -> None:
    await bench.emit(
        "track", "Scored", user_id=user_id, data={"properties": {"n": n, "points": points}}
    )


async def _score_of(bench: FlowBench, user_id: str) -> Any:
    async with bench.hub.database.transaction() as tx:
        profile_id = await resolve_profile(tx, [("user_id", user_id)], now=bench.clock.now())
        profile = await get_profile(tx, profile_id)
    assert profile is not None
    return profile.traits["score"]["value"]


async def _jobs(bench: FlowBench, task: str) -> list[str]:
    async with bench.hub.database.read() as connection:
        rows = await connection.execute(select(jobs.c.status).where(jobs.c.task == task))
        return sorted(row.status for row in rows)


async def _run_out_the_retries(bench: FlowBench) -> None:
    """The bench's schedule is 10 s then 60 s: three attempts, then dead letter."""
    for _ in range(4):
        await bench.run()
        bench.clock.advance(seconds=61)


async def test_a_step_job_that_dies_fails_its_run_and_starts_the_next_one(
    bench: FlowBench, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    effects = bench.engine.effects
    real_profile = effects.profile

    async def profile(keys: Any, traits: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if traits.get("last") == 1:
            raise RuntimeError("profile store exploded")  # not a StepFailed: unexpected
        return await real_profile(keys, traits, *args, **kwargs)

    monkeypatch.setattr(effects, "profile", profile)
    flow_id = await bench.flow(_scoring())
    await _score(bench, "u1", 1, 10)
    await _score(bench, "u1", 2, 5)
    await _score(bench, "u2", 3, 7)
    await _run_out_the_retries(bench)

    assert await _jobs(bench, STEP_TASK) == ["dead"]
    first, second, other = await bench.runs(flow_id)
    assert first["status"] == "failed"
    assert first["error"] == (
        "the step save job failed for good: RuntimeError: profile store exploded"
    )
    assert first["finished_at"] is not None
    assert second["status"] == "succeeded"
    assert other["status"] == "succeeded"
    assert await _score_of(bench, "u1") == 5
    assert await _score_of(bench, "u2") == 7
    await _shown_failed(
        bench, flow_id, "RuntimeError: profile store exploded", monkeypatch, tmp_path
    )


async def _shown_failed(
    bench: FlowBench,
    flow_id: str,
    error: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """``GET /api/v1/flows/{id}/runs?status=failed`` and ``renkei flows runs`` show why."""
    transport = httpx.ASGITransport(app=create_app(bench.hub))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://renkei", headers=headers
    ) as api:
        answer = await api.get(f"/api/v1/flows/{flow_id}/runs", params={"status": "failed"})
    assert answer.status_code == 200, answer.text
    [failed] = answer.json()["data"]
    assert error in failed["error"]
    monkeypatch.setenv("RENKEI_DATABASE_URL", bench.hub.settings.database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    try:  # the CLI runs its own event loop
        shown = await asyncio.to_thread(CliRunner().invoke, cli, ["flows", "runs", flow_id])
    finally:
        configure_logging("info", "json")  # the CLI logged to CliRunner's closed stderr
    assert shown.exit_code == 0, shown.output
    [line] = [line for line in shown.output.splitlines() if failed["id"] in line]
    assert "failed" in line and error in line


async def test_a_queued_run_whose_start_job_dies_fails_and_the_lane_goes_on(
    bench: FlowBench,
) -> None:
    flow_id = await bench.flow(_scoring())
    unordered = await bench.flow(
        {
            "trigger": {"event_types": ["track"], "names": ["Scored"]},
            "steps": [{"map": {"fields": [{"target": "n", "source": "data.properties.n"}]}}],
        }
    )
    await _score(bench, "u1", 1, 10)
    await _score(bench, "u1", 2, 5)
    # The first event cannot be read into a run any more (too deep for the serializer, as
    # an event stored before depth limits existed): its start job fails on every attempt.
    deep = '{"a":' * 300 + "1" + "}" * 300
    value = ":data" if bench.hub.database.is_sqlite else "CAST(:data AS jsonb)"
    async with bench.hub.database.transaction() as tx:
        await tx.execute(
            text(f"UPDATE events SET data = {value} WHERE id = :id"),
            {"data": deep, "id": bench.emitted[0]},
        )
    await _run_out_the_retries(bench)

    assert "dead" in await _jobs(bench, START_TASK)
    first, second = await bench.runs(flow_id)
    assert first["status"] == "failed"
    assert "the start job failed for good" in first["error"]
    assert second["status"] == "succeeded"
    assert await _score_of(bench, "u1") == 5
    # A flow without lanes had no run for the event yet: it gets a failed one.
    first, second = await bench.runs(unordered)
    assert first["event_id"] == bench.emitted[0]
    assert first["status"] == "failed" and "the start job failed for good" in first["error"]
    assert second["status"] == "succeeded"


async def test_a_queued_run_whose_event_is_gone_is_skipped_and_the_lane_goes_on(
    bench: FlowBench,
) -> None:
    flow_id = await bench.flow(_scoring(delay=True))
    await _score(bench, "u1", 1, 10)
    await _score(bench, "u1", 2, 5)
    await _score(bench, "u1", 3, 1)
    await bench.run()  # the first run waits a minute; the others are queued behind it
    async with bench.hub.database.transaction() as tx:
        await tx.execute(text("DELETE FROM events WHERE id = :id"), {"id": bench.emitted[1]})
    bench.clock.advance(seconds=61)
    await bench.run()
    bench.clock.advance(seconds=61)
    await bench.run()
    statuses = [(run["status"], run["error"]) for run in await bench.runs(flow_id)]
    assert statuses[0] == ("succeeded", None)
    assert statuses[1][0] == "skipped" and "no longer exists" in statuses[1][1]
    assert statuses[2] == ("succeeded", None)
    assert await _score_of(bench, "u1") == 11


def _past_the_grace(bench: FlowBench) -> None:
    bench.clock.advance(seconds=bench.hub.settings.flow_reconcile_seconds + 1)


async def _kill_workers_on(bench: FlowBench, task: str) -> None:
    """A worker claims the task's due job and dies, three times: the lease reaper sends
    the job to dead letter on the last one, and no ``on_dead`` hook runs."""
    queue = bench.hub.queue
    for _ in range(3):
        claimed = await queue.claim("doomed", limit=10, lease_seconds=60, queues=["flows"])
        assert [job.task for job in claimed] == [task]
        bench.clock.advance(seconds=61)
        assert await queue.reclaim_expired() == 1
    assert "dead" in await _jobs(bench, task)


async def test_the_reconciler_fails_a_run_whose_job_died_unseen(bench: FlowBench) -> None:
    assert RECONCILE_TASK in {p.task for p in bench.hub.registry.periodics}
    flow_id = await bench.flow(_scoring(delay=True))
    await _score(bench, "u1", 1, 10)
    await _score(bench, "u1", 2, 5)
    await bench.run()
    bench.clock.advance(seconds=60)
    await _kill_workers_on(bench, STEP_TASK)
    await bench.run()
    assert [r["status"] for r in await bench.runs(flow_id)] == ["waiting", "queued"]

    _past_the_grace(bench)
    found = await reconcile_runs(bench.engine)
    assert (found.failed, found.resumed, found.started) == (1, 0, 0)
    await bench.run()
    first, second = await bench.runs(flow_id)
    assert first["status"] == "failed"
    assert "worker lost" in first["error"] and "the step save job failed for good" in first["error"]
    assert second["status"] == "waiting"
    bench.clock.advance(seconds=60)
    await bench.run()
    assert [r["status"] for r in await bench.runs(flow_id)] == ["failed", "succeeded"]
    _past_the_grace(bench)
    assert (await reconcile_runs(bench.engine)).total == 0


async def test_the_reconciler_settles_queued_runs_whose_start_job_died_or_vanished(
    bench: FlowBench,
) -> None:
    flow_id = await bench.flow(_scoring())
    await _score(bench, "u1", 1, 10)
    await _score(bench, "u1", 2, 5)
    # The first start job dies unseen; the second one's job vanishes.
    await _kill_workers_on_first_start(bench)
    async with bench.hub.database.transaction() as tx:
        await tx.execute(delete(jobs).where(jobs.c.status == "scheduled"))
    _past_the_grace(bench)
    found = await reconcile_runs(bench.engine)
    # The head of the lane fails, which starts the next one: it needs no job of its own.
    assert (found.failed, found.resumed, found.started) == (1, 0, 0)
    await bench.run()
    first, second = await bench.runs(flow_id)
    assert first["status"] == "failed" and "worker lost" in first["error"]
    assert "the start job failed for good" in first["error"]
    assert second["status"] == "succeeded"

    await _score(bench, "u2", 3, 7)
    async with bench.hub.database.transaction() as tx:
        await tx.execute(delete(jobs).where(jobs.c.status == "scheduled"))
    await bench.run()
    assert [r["status"] for r in await bench.runs(flow_id)][-1] == "queued"
    _past_the_grace(bench)
    found = await reconcile_runs(bench.engine)
    assert (found.failed, found.resumed, found.started) == (0, 0, 1)
    await bench.run()
    assert [r["status"] for r in await bench.runs(flow_id)] == [
        "failed",
        "succeeded",
        "succeeded",
    ]
    assert await _score_of(bench, "u1") == 5
    assert await _score_of(bench, "u2") == 7


async def test_the_reconciler_gives_a_run_whose_step_job_vanished_its_job_again(
    bench: FlowBench,
) -> None:
    flow_id = await bench.flow(_scoring(delay=True))
    await _score(bench, "u1", 1, 10)
    await bench.run()
    async with bench.hub.database.transaction() as tx:
        await tx.execute(delete(jobs).where(jobs.c.task == STEP_TASK))
    # Too recent: its job may be committing right now.
    assert (await reconcile_runs(bench.engine)).total == 0
    _past_the_grace(bench)
    found = await reconcile_runs(bench.engine)
    assert (found.failed, found.resumed, found.started) == (0, 1, 0)
    await bench.run()
    assert [r["status"] for r in await bench.runs(flow_id)] == ["succeeded"]
    assert await _score_of(bench, "u1") == 10


async def _kill_workers_on_first_start(bench: FlowBench) -> None:
    first = bench.emitted[0]
    async with bench.hub.database.read() as connection:
        run_id = (
            await connection.execute(select(flow_runs.c.id).where(flow_runs.c.event_id == first))
        ).scalar_one()
    # Keep the second start job out of the way while the first one's workers die.
    later = bench.clock.now() + timedelta(days=1)
    async with bench.hub.database.transaction() as tx:
        await tx.execute(update(jobs).where(jobs.c.dedupe_key != run_id).values(run_at=later))
    await _kill_workers_on(bench, START_TASK)
    async with bench.hub.database.transaction() as tx:
        await tx.execute(
            update(jobs).where(jobs.c.status == "scheduled").values(run_at=bench.clock.now())
        )
