"""``/api/v1/alerts`` through real HTTP on loopback, and ``renkei alerts list|ack|resolve``,
on SQLite and PostgreSQL: list and filter, pages, acknowledge and resolve (write scope,
audited, ``alert.resolved`` once), unknown ids and bad filters as JSON errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from renkei.alerts import model
from renkei.cli.main import app
from renkei.hub import Hub
from renkei.observability.logging import configure_logging
from renkei.security.keyring import generate_key
from renkei.store.tables.core import events
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as settings_for

pytestmark = pytest.mark.timeout(120)

SUBJECTS = [
    ("flow_run_failed", "flow", "flw_a"),
    ("flow_run_failed", "flow", "flw_b"),
    ("sync_run_failed", "sync", "syn_a"),
]


async def _seed(database_url: str) -> list[str]:
    """Three alerts, the first seen twice: the ids, oldest first."""
    hub = Hub(settings_for(database_url))
    try:
        async with hub.database.transaction() as tx:
            for kind, subject_type, subject_id in [*SUBJECTS, SUBJECTS[0]]:
                await model.observe(
                    hub,
                    tx,
                    kind=kind,
                    subject_type=subject_type,
                    subject_id=subject_id,
                    sample={"reason": "step send: HTTP 500"},
                )
        async with hub.database.read() as connection:
            page = await model.list_page(connection, limit=10)
        return [alert.id for alert in reversed(page)]
    finally:
        await hub.stop()


async def _count_events(database_url: str, event_type: str) -> int:
    hub = Hub(settings_for(database_url))
    try:
        async with hub.database.read() as connection:
            found = await connection.execute(
                select(func.count()).select_from(events).where(events.c.type == event_type)
            )
            return int(found.scalar_one())
    finally:
        await hub.stop()


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[str, Hub]]:
    with running_hub(database_url, with_worker=False) as served:
        yield served


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_list_filter_acknowledge_resolve_over_http(
    served: tuple[str, Hub], database_url: str
) -> None:
    base_url, _ = served
    first, second, third = asyncio.run(_seed(database_url))
    assert asyncio.run(_count_events(database_url, "alert.opened")) == 3
    with admin_client(base_url) as admin:
        listed = admin.get("/api/v1/alerts").json()
        assert [alert["id"] for alert in listed["data"]] == [third, second, first]
        shown = listed["data"][2]
        assert shown["count"] == 2 and shown["status"] == "open"
        assert (shown["kind"], shown["subject_type"], shown["subject_id"]) == SUBJECTS[0]
        assert shown["sample"] == {"reason": "step send: HTTP 500"}
        assert shown["first_seen"] and shown["last_seen"]

        page = admin.get("/api/v1/alerts", params={"limit": 2}).json()
        assert [alert["id"] for alert in page["data"]] == [third, second]
        rest = admin.get("/api/v1/alerts", params={"limit": 2, "cursor": page["next_cursor"]})
        assert [alert["id"] for alert in rest.json()["data"]] == [first]
        assert rest.json()["next_cursor"] is None
        kinds = admin.get("/api/v1/alerts", params={"kind": "sync_run_failed"}).json()
        assert [alert["id"] for alert in kinds["data"]] == [third]

        acknowledged = admin.post(f"/api/v1/alerts/{first}/acknowledge")
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()["status"] == "acknowledged"
        assert acknowledged.json()["acknowledged_at"]
        by_status = admin.get("/api/v1/alerts", params={"status": "acknowledged"}).json()
        assert [alert["id"] for alert in by_status["data"]] == [first]

        for _ in range(2):  # resolving twice notifies once
            resolved = admin.post(f"/api/v1/alerts/{first}/resolve")
            assert resolved.status_code == 200, resolved.text
            assert resolved.json()["status"] == "resolved"
        assert admin.get(f"/api/v1/alerts/{first}").json()["status"] == "resolved"
        _error(admin.post(f"/api/v1/alerts/{first}/acknowledge"), 409, "alert_resolved")

        actions = {
            entry["action"]
            for entry in admin.get("/api/v1/audit", params={"target_id": first}).json()["data"]
        }
        assert actions == {"alert.acknowledged", "alert.resolved"}

        _error(admin.get("/api/v1/alerts/alr_nope"), 404, "not_found")
        _error(admin.post("/api/v1/alerts/alr_nope/resolve"), 404, "not_found")
        _error(admin.get("/api/v1/alerts", params={"status": "closed"}), 422, "validation_failed")
        assert admin.get("/api/v1/alerts", params={"cursor": "%%%"}).status_code == 400
        assert admin.get("/api/v1/alerts", params={"limit": 0}).status_code == 400

        token = admin.post("/api/v1/tokens", json={"name": "viewer", "scope": "read"}).json()
    with admin_client(base_url, token["token"]) as reader:
        assert reader.get("/api/v1/alerts").status_code == 200
        _error(reader.post(f"/api/v1/alerts/{second}/acknowledge"), 403, "forbidden")
        _error(reader.post(f"/api/v1/alerts/{second}/resolve"), 403, "forbidden")
    assert asyncio.run(_count_events(database_url, "alert.resolved")) == 1


@pytest.fixture
def runner(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[CliRunner]:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield CliRunner()
    configure_logging("info", "json")


def test_cli_lists_acknowledges_and_resolves(runner: CliRunner, database_url: str) -> None:
    first, second, third = asyncio.run(_seed(database_url))

    listed = runner.invoke(app, ["alerts", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [alert["id"] for alert in json.loads(listed.stdout)] == [third, second, first]
    only = runner.invoke(app, ["alerts", "list", "--kind", "sync_run_failed"])
    assert only.exit_code == 0 and third in only.stdout and first not in only.stdout

    acked = runner.invoke(app, ["alerts", "ack", first])
    assert acked.exit_code == 0, acked.output
    assert acked.stdout.strip() == f"{first} acknowledged"
    resolved = runner.invoke(app, ["alerts", "resolve", second, "--json"])
    assert resolved.exit_code == 0, resolved.output
    assert json.loads(resolved.stdout)["status"] == "resolved"
    open_now = runner.invoke(app, ["alerts", "list", "--status", "open", "--json"])
    assert [alert["id"] for alert in json.loads(open_now.stdout)] == [third]

    unknown = runner.invoke(app, ["alerts", "ack", "alr_nope"])
    assert unknown.exit_code == 1
    assert "alert alr_nope does not exist" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
    bad = runner.invoke(app, ["alerts", "list", "--status", "closed"])
    assert bad.exit_code == 1 and "status must be one of" in bad.output
