"""``renkei sources plan`` and ``renkei violations``: the tracking plan from the CLI, on a
real database on both backends (violations recorded by a hub's ingest, written when it
stops)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.events.segment import to_events
from renkei.hub import Hub
from renkei.security.keyring import generate_key
from renkei.settings import Settings
from renkei.usecases import LOCAL, sources, webhooks

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return CliRunner()


async def _ingest(source_name: str) -> None:
    """What the tracking API does with a batch, through a hub of its own."""
    hub = Hub(Settings())
    await hub.start(with_worker=False)
    try:
        source = await sources.get_source(hub, LOCAL, source_name, by_name=True)
        batch = {
            "batch": [
                {"type": "track", "userId": "u", "event": "Order Completed", "properties": {}},
                {"type": "track", "userId": "u", "event": "Order Completed", "properties": {}},
                {"type": "track", "userId": "u", "event": "Oder Completed", "properties": {}},
            ]
        }
        ingested = to_events(
            "batch",
            batch,
            source_id=source.id,
            received_at=hub.clock.now(),
            new_id=lambda: f"evt_{id(object())}",
            limits=hub.ingest.limits,
        )
        await hub.ingest.store_tracked(ingested.events, source.id, source.plan_mode)
    finally:
        await hub.stop()  # writes the violations counted in memory


async def _plan_order_completed() -> None:
    hub = Hub(Settings())
    try:
        await webhooks.create_event_type(
            hub,
            LOCAL,
            name="Order Completed",
            schema={"type": "object", "required": ["amount"]},
            planned=True,
        )
    finally:
        await hub.database.dispose()


def test_plan_mode_and_violations_from_the_cli(runner: CliRunner) -> None:
    created = runner.invoke(app, ["sources", "create", "--name", "app", "--plan-mode", "allow"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["plan_mode"] == "allow"
    empty = runner.invoke(app, ["violations"])
    assert empty.exit_code == 0, empty.output
    assert empty.stdout.splitlines() == ["event\tproblem\tpath\taction\tcount\tlast seen\tmessage"]

    changed = runner.invoke(app, ["sources", "plan", "app", "block"])
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["plan_mode"] == "block"
    asyncio.run(_plan_order_completed())
    asyncio.run(_ingest("app"))

    listed = runner.invoke(app, ["violations", "--source", "app", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {(row["event_name"], row["problem"]): row for row in json.loads(listed.stdout)}
    assert {key: row["count"] for key, row in rows.items()} == {
        ("Order Completed", "required"): 2,
        ("Oder Completed", "unplanned_event"): 1,
    }
    assert {row["action"] for row in rows.values()} == {"blocked"}
    piped = runner.invoke(app, ["violations"])
    assert len(piped.stdout.splitlines()) == 3

    off = runner.invoke(app, ["sources", "plan", "app", "off"])
    assert off.exit_code == 0, off.output
    assert json.loads(off.stdout)["plan_mode"] is None
