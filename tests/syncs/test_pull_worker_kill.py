"""SIGKILL of a real ``renkei worker`` in the middle of a 6,000-lead pull, then a new
worker: the sync completes, every lead reaches the profiles once, none is skipped, and the
Marketo sandbox (served from this process on 127.0.0.1) counts each page served once,
except the page in flight at the kill.

The cursor (the paging token) is committed with each page's records, so a worker that
dies while a page is in flight has committed neither: the page at the checkpointed cursor
is read again by the next worker (at most twice in all: once by the dead worker, if the
sandbox answered it before the kill, and once by its successor). Every other page is
served exactly once. To kill with a page certainly in flight, the sandbox holds requests
(``sandbox.gate``) once a third of the leads are stored, the worker is killed while one
is held, and the gate opens again before the next worker starts.

Marketo's rate window (100 calls per 20 s) is widened on both sides to 1,000 calls, so
the pull's calls are not parked behind it: this test is about the crash, not the limit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from renkei.connectors.connections import create_connection
from renkei.events.profiles import ProfileQuery, find_profiles
from renkei.hub import Hub
from renkei.sandbox import serve_in_thread
from renkei.sandbox.marketo import MarketoSandbox, MarketoSandboxConfig, create_marketo_app
from renkei.security.keyring import generate_key
from renkei.store.tables.ingest import identities
from renkei.store.tables.syncs import sync_runs, syncs
from renkei.syncs import SyncService
from tests.support.server import test_settings as hub_settings

from .harness import MARKETO_CREDENTIALS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

LEADS = 6_000
PAGE = 300
PAGES = -(-LEADS // PAGE)  # 20
LEAD_CHANGES = "GET /rest/v1/activities/leadchanges.json"
RATE = {"calls": 1000, "per_seconds": 20, "concurrency": 10}


class Worker:
    """``renkei worker`` in its own process, with a 2 s lease (RENKEI_LEASE_SECONDS) so a
    killed worker's job is claimed again quickly."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "renkei", "worker"],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def sandbox() -> Iterator[tuple[MarketoSandbox, str]]:
    sandbox = create_marketo_app(MarketoSandboxConfig(rate_limit_calls=RATE["calls"]))
    sandbox.seed_leads(LEADS, log=True)  # each in the activity log as a New Lead
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url


async def wait_for(what: str, condition: Any, timeout: float, worker: Worker) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := await condition()):
        if worker.process.poll() is not None:
            raise AssertionError(f"the worker exited before {what}:\n{worker.log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.02)
    return found


async def test_a_killed_worker_resumes_a_6000_lead_pull_reading_every_page_once(
    database_url: str, sandbox: tuple[MarketoSandbox, str], tmp_path: Path
) -> None:
    marketo, base_url = sandbox
    key = generate_key()
    hub = Hub(hub_settings(database_url, secret_key=[key]))
    try:
        await pull_and_kill(hub, key, database_url, marketo, base_url, tmp_path)
    finally:
        await hub.database.dispose()


async def pull_and_kill(
    hub: Hub, key: str, database_url: str, marketo: MarketoSandbox, base_url: str, tmp_path: Path
) -> None:
    service: SyncService = hub.syncs
    async with hub.database.transaction() as tx:
        await create_connection(
            tx,
            keyring=hub.keyring,
            registry=hub.connectors.registry,
            now=hub.clock.now(),
            name="marketo",
            connector="marketo",
            config={"base_url": base_url},
            credentials=MARKETO_CREDENTIALS,
            limits={"rate_limit": RATE},
        )
    sync = await service.create(
        {
            "name": "leads",
            "connection": "marketo",
            "direction": "pull",
            "object": "leads",
            "config": {"fields": ["email", "firstName", "lastName"], "page_size": PAGE},
        }
    )
    run_id = await service.run("leads")

    async def run_row() -> Any:
        async with hub.database.read() as connection:
            return (
                await connection.execute(select(sync_runs).where(sync_runs.c.id == run_id))
            ).first()

    async def cursor() -> dict[str, Any] | None:
        async with hub.database.read() as connection:
            found = await connection.execute(select(syncs.c.cursor).where(syncs.c.id == sync.id))
            return found.scalar_one()  # type: ignore[no-any-return]

    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_SECRET_KEY": key,
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",  # the sandbox is on loopback
        "RENKEI_LEASE_SECONDS": "2",
        "RENKEI_WORKER_POLL_INTERVAL": "0.1",
        "RENKEI_LOG_LEVEL": "warning",
    }
    first = Worker(env, tmp_path / "first.log")
    second: Worker | None = None
    try:

        async def a_third_stored() -> bool:
            row = await run_row()
            return row is not None and row.read >= LEADS // 3

        await wait_for("a third of the leads stored", a_third_stored, 90, first)
        # Hold the next request inside the sandbox, then kill the worker waiting on it.
        marketo.gate.close()
        try:
            assert await asyncio.to_thread(marketo.gate.wait_for_waiters, 1, 30.0)
            at_kill = await cursor()
            stored_at_kill = (await run_row()).read
            first.kill()
        finally:
            marketo.gate.open()
        assert at_kill is not None and 0 < stored_at_kill < LEADS
        assert marketo.counters.pages_served[at_kill["next_page_token"]] <= 1

        second = Worker(env, tmp_path / "second.log")

        async def finished() -> Any:
            row = await run_row()
            return row if row is not None and row.status in ("succeeded", "failed") else None

        run = await wait_for("finished run", finished, 90, second)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert (run.status, run.read, run.created, run.updated) == ("succeeded", LEADS, LEADS, 0)
    assert (run.failed, run.errors) == (0, [])
    # Every lead is a profile, matched by email, with its lead id; none missing, none twice.
    async with hub.database.read() as connection:
        lead_ids = list(
            (
                await connection.execute(
                    select(identities.c.value).where(identities.c.kind == "marketo_lead_id")
                )
            ).scalars()
        )
        profiles = (
            await connection.execute(
                select(func.count(func.distinct(identities.c.profile_id))).where(
                    identities.c.kind == "email"
                )
            )
        ).scalar_one()
        (last,) = await find_profiles(
            connection, ProfileQuery(identities=[("email", f"lead{LEADS}@example.com")])
        )
    # Stored as "<connection id>:<lead id>" (vendor ids belong to their connection).
    assert sorted(int(value.rsplit(":", 1)[1]) for value in lead_ids) == sorted(marketo.leads)
    assert profiles == LEADS
    assert last.traits["lastName"]["value"] == str(LEADS)
    # Pages: each served once, but for the one in flight at the kill (the checkpointed
    # cursor pointed at it), which the next worker read again.
    served = marketo.counters.pages_served
    assert len(served) == PAGES
    again = {token: count for token, count in served.items() if count != 1}
    assert set(again) <= {at_kill["next_page_token"]}
    assert all(count == 2 for count in again.values())
    assert served[at_kill["next_page_token"]] in (1, 2)
    # One lead-changes request was repeated: the page in flight at the kill.
    assert marketo.counters.calls[LEAD_CHANGES] == PAGES + 1
    assert marketo.violations == []
