"""Batching through the durable queue: coalescing, the wait for a partial batch, answers to
the submitter, idempotent submissions, failures, and recovery of a dead job's records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from renkei.clock import ManualClock
from renkei.connectors.batching import SubmissionRejected, UnknownConnection, _claim, sweep
from renkei.queue import JobContext
from renkei.store.tables import jobs

from .harness import MARKETO_CREDENTIALS, START, leads, marketo_sandbox, rig

pytestmark = pytest.mark.timeout(120)

UPSERT = "POST /rest/v1/leads.json"


async def _connect(r: Any, base: str, **limits: Any) -> None:
    await r.connect(
        "mkto",
        "marketo",
        config={"base_url": base},
        credentials=MARKETO_CREDENTIALS,
        limits=limits or None,
    )


async def test_records_coalesce_and_a_partial_batch_waits_for_the_batch_wait(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock, connector_batch_wait_seconds=2.0) as r:
            await _connect(r, base, batch_size=10)
            for n in range(25):  # one record per submission, as flow steps do
                await r.submit("mkto", "upsert_leads", leads(1, start=n))
                if n % 5 == 4:
                    clock.advance(0.1)
            await r.run_due()
            assert sandbox.counters.calls[UPSERT] == 2  # the two full batches, at once
            assert len(sandbox.leads) == 20
            assert await r.next_due() == START + timedelta(seconds=2)  # the rest waits
            clock.set(START + timedelta(seconds=1.9))
            await r.run_due()
            assert sandbox.counters.calls[UPSERT] == 2
            await r.drive()
            assert sandbox.counters.calls[UPSERT] == 3
            assert await r.batch_sizes() == [10, 10, 5]
            assert len(sandbox.leads) == 25


async def test_the_submitter_is_answered_once_with_the_counts(database_url: str) -> None:
    clock = ManualClock(START)
    replies: list[dict[str, Any]] = []
    with marketo_sandbox(clock) as (_, base):
        async with rig(database_url, clock) as r:

            async def answered(ctx: JobContext) -> None:
                replies.append(dict(ctx.payload))

            r.hub.registry.task("test.answered")(answered)
            await _connect(r, base)
            async with r.hub.database.transaction() as tx:
                submission_id = await r.service.submit(
                    tx,
                    "mkto",
                    "upsert_leads",
                    [*leads(400), {"email": "x@example.com", "nope": 1}],
                    reply_to={"task": "test.answered", "payload": {"run": "run_1"}},
                )
            await r.drive()
            assert replies == [
                {
                    "run": "run_1",
                    "submission_id": submission_id,
                    "connection_id": (await r.service.runtime.load("mkto")).id,
                    "operation": "upsert_leads",
                    "ok": 400,
                    "failed": 1,
                }
            ]
            with pytest.raises(SubmissionRejected):
                async with r.hub.database.transaction() as tx:
                    await r.service.submit(
                        tx, "mkto", "upsert_leads", leads(1), reply_to={"task": "no.such.task"}
                    )


async def test_a_rolled_back_submission_queues_nothing(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await _connect(r, base)
            with pytest.raises(RuntimeError):
                async with r.hub.database.transaction() as tx:
                    await r.service.submit(tx, "mkto", "upsert_leads", leads(500))
                    raise RuntimeError("the caller's transaction fails")
            await r.drive()
            assert sandbox.leads == {}
            assert (await r.job_counts()) == {}


async def test_flow_steps_submit_without_a_transaction_and_idempotently(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await _connect(r, base)
            record = {"email": "flow@example.com", "firstName": "Flow"}
            first = await r.service.submit(
                connection="mkto", operation="upsert_leads", input=record, key="run_1:send"
            )
            again = await r.service.submit(
                connection="mkto", operation="upsert_leads", input=record, key="run_1:send"
            )
            assert first == again
            await r.drive()
            outcome = await r.submission(first)
            assert outcome.total == 1 and outcome.counts["ok"] == 1
            assert sandbox.counters.calls[UPSERT] == 1
            with pytest.raises(LookupError):
                await r.service.submit(connection="nope", operation="upsert_leads", input=record)
            with pytest.raises(ValueError):
                await r.service.submit(connection="mkto", operation="nope", input=record)
            with pytest.raises(UnknownConnection):
                await r.service.submit(connection="nope", operation="x", input=record)
            preview = await r.service.preview("mkto", "upsert_leads", [record, {}])
            assert preview[0]["problem"] is None
            assert preview[1]["problem"] is not None
            assert sandbox.counters.calls[UPSERT] == 1  # a preview sends nothing


async def test_a_permanent_error_fails_the_batch_and_dead_letters_the_job(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await _connect(r, base)
            sandbox.fail_next(1, "1003", "Invalid data", path="/rest/v1/leads.json")
            submission_id = await r.submit("mkto", "upsert_leads", leads(300))
            await r.drive()
            outcome = await r.submission(submission_id)
            assert outcome.done and outcome.counts["error"] == 300
            assert {rec.error_code for rec in outcome.records} == {"1003"}
            assert (await r.job_counts()) == {"dead": 1}


async def test_retryable_errors_retry_on_the_schedule_then_fail_the_records(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock, retry_schedule=(5.0, 5.0)) as r:
            await _connect(r, base)
            sandbox.fail_next(2, "611", path="/rest/v1/leads.json")
            recovered = await r.submit("mkto", "upsert_leads", leads(300))
            await r.drive()
            assert (await r.submission(recovered)).counts["ok"] == 300
            assert clock.now() - START >= timedelta(seconds=10)

            sandbox.fail_next(3, "713", path="/rest/v1/leads.json")
            lost = await r.submit("mkto", "upsert_leads", leads(300, start=300))
            await r.drive()
            outcome = await r.submission(lost)
            assert outcome.counts["error"] == 300
            assert {rec.error_code for rec in outcome.records} == {"713"}
            assert {rec.attempts for rec in outcome.records} == {1}


async def test_records_of_a_dead_job_are_put_back_by_the_sweep(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo_sandbox(clock) as (sandbox, base):
        async with rig(database_url, clock) as r:
            await _connect(r, base)
            submission_id = await r.submit("mkto", "upsert_leads", leads(300))
            # A worker takes the job, claims the batch, and dies (a crash, a kill -9)...
            job = (await r.hub.queue.claim("w", limit=10, lease_seconds=60, queues=None))[0]
            connection = await r.service.runtime.load("mkto")
            op = r.service.registry.get("marketo").spec.operation("upsert_leads")
            assert len(await _claim(r.service.runtime, job, connection.id, op, 300, False)) == 300
            # ...and its job is dead-lettered without a word about the records.
            async with r.hub.database.transaction() as tx:
                await tx.execute(update(jobs).where(jobs.c.id == job.id).values(status="dead"))
            assert (await r.submission(submission_id)).counts["running"] == 300

            report = await sweep(r.service.runtime)
            assert report["reclaimed"] == 300
            await r.drive()
            outcome = await r.submission(submission_id)
            assert outcome.counts["ok"] == 300
            assert {rec.attempts for rec in outcome.records} == {2}
            assert len(sandbox.leads) == 300
