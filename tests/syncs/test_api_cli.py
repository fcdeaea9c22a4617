"""``/api/v1/syncs``, ``/api/v1/connections/{id}/quota`` over real HTTP, and
``renkei syncs list|run|runs`` from the command line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from renkei.cli import app
from renkei.sandbox import MarketoSandboxConfig, create_marketo_app, serve_in_thread
from renkei.security.keyring import generate_key
from tests.support.server import admin_client, running_hub

from .harness import MARKETO_CREDENTIALS

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def keep_logging_config() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    structlog.configure(**saved)
    root.setLevel(level)
    root.handlers[:] = handlers


def test_syncs_api_crud_run_runs_and_quota(database_url: str) -> None:
    sandbox = create_marketo_app(MarketoSandboxConfig(seed_leads=3, seed_activities=40))
    with (
        serve_in_thread(sandbox.app) as marketo_url,
        running_hub(database_url, worker_poll_interval=0.05) as (url, _),
        admin_client(url) as api,
    ):
        created = api.post(
            "/api/v1/connections",
            json={
                "name": "marketo",
                "connector": "marketo",
                "config": {"base_url": marketo_url},
                "credentials": MARKETO_CREDENTIALS,
            },
        )
        assert created.status_code == 201, created.text
        connection_id = created.json()["id"]
        spec = {
            "name": "activities",
            "connection": "marketo",
            "direction": "pull",
            "object": "activities",
            "config": {"activity_type_ids": [1], "page_size": 25},
        }
        made = api.post("/api/v1/syncs", json=spec)
        assert made.status_code == 201, made.text
        sync_id = made.json()["id"]
        assert sync_id.startswith("sync_")
        assert api.post("/api/v1/syncs", json=spec).status_code == 409
        bad = api.post("/api/v1/syncs", json=spec | {"name": "x", "object": "nonsense"})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_sync"
        assert [s["name"] for s in api.get("/api/v1/syncs").json()["data"]] == ["activities"]
        patched = api.patch(f"/api/v1/syncs/{sync_id}", json={"trigger": {"every_seconds": 3600}})
        assert patched.status_code == 200 and patched.json()["next_run_at"] is not None

        queued = api.post(f"/api/v1/syncs/{sync_id}/run")
        assert queued.status_code == 202, queued.text
        run_id = queued.json()["id"]
        deadline = time.monotonic() + 30
        while True:
            runs = api.get(f"/api/v1/syncs/{sync_id}/runs").json()["data"]
            if runs[0]["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert runs[0]["id"] == run_id
        assert (runs[0]["status"], runs[0]["read"], runs[0]["created"]) == ("succeeded", 40, 40)

        quota = api.get(f"/api/v1/connections/{connection_id}/quota")
        assert quota.status_code == 200, quota.text
        body = quota.json()
        assert body["limit"] == 50_000
        assert body["used"] >= 2 and body["remaining"] == 50_000 - body["used"]
        assert body["mode"] == "realtime" and body["projected"] >= body["used"]
        assert api.get("/api/v1/connections/nope/quota").status_code == 404

        assert api.get("/api/v1/syncs/sync_missing").status_code == 404
        assert api.delete(f"/api/v1/syncs/{sync_id}").status_code == 204
        assert api.get(f"/api/v1/syncs/{sync_id}").status_code == 404


def test_syncs_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    sandbox = create_marketo_app(MarketoSandboxConfig(seed_leads=2, seed_activities=30))
    env = {
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",  # the sandbox is on loopback
        "RENKEI_LOG_LEVEL": "warning",
    }
    runner = CliRunner()
    with serve_in_thread(sandbox.app) as marketo_url:
        made = runner.invoke(
            app,
            [
                "connections",
                "create",
                "marketo",
                "--connector",
                "marketo",
                "--config",
                f"base_url={marketo_url}",
                "--credential",
                f"client_id={MARKETO_CREDENTIALS['client_id']}",
                "--credential",
                f"client_secret={MARKETO_CREDENTIALS['client_secret']}",
            ],
            env=env,
        )
        assert made.exit_code == 0, made.output
        config = (
            "syncs:\n  - name: activities\n    connection: marketo\n    direction: pull\n"
            "    object: activities\n    config: {activity_type_ids: [1], page_size: 10}\n"
        )
        path = tmp_path / "renkei.yaml"
        path.write_text(config)
        applied = runner.invoke(app, ["apply", "-f", str(path)], env=env)
        assert applied.exit_code == 0, applied.output
        listed = runner.invoke(app, ["syncs", "list"], env=env)
        assert listed.exit_code == 0 and "activities" in listed.output
        ran = runner.invoke(app, ["syncs", "run", "activities", "--local"], env=env)
        assert ran.exit_code == 0, ran.output
        runs = runner.invoke(app, ["syncs", "runs", "activities"], env=env)
        assert runs.exit_code == 0, runs.output
        (run,) = json.loads(runs.stdout)
        assert (run["status"], run["read"], run["created"]) == ("succeeded", 30, 30)
