"""Deletion requests when vendors fail, scrubbed events, the CLI, and the connector
declarations (issue 20, point 2). Real HTTP and sandboxes on loopback, both backends."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from renkei.cli.main import app
from renkei.connectors.registry import default_registry
from renkei.observability.logging import configure_logging
from renkei.sandbox import create_sandbox, serve_in_thread
from renkei.sandbox.amplitude import DEFAULT_API_KEY as AMPLITUDE_KEY
from renkei.sandbox.braze import DEFAULT_API_KEY as BRAZE_KEY
from renkei.sandbox.mailchimp.state import DEFAULT_API_KEY as MAILCHIMP_KEY
from renkei.security.keyring import generate_key
from renkei.store import Database
from renkei.store.tables.privacy import privacy_requests
from tests.privacy.support import finished_request
from tests.support.rawscan import dump_all_rows
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(180)

EMAIL = "fails-3e1a@example.com"
USER_ID = "user-fails-3e1a"


def _identify(base_url: str, admin: httpx.Client, **extra: Any) -> None:
    write_key = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"}).json()[
        "write_key"
    ]
    response = httpx.post(
        f"{base_url}/v1/batch",
        json={
            "batch": [
                {"type": "identify", "userId": USER_ID, "traits": {"email": EMAIL}},
                {
                    "type": "track",
                    "userId": USER_ID,
                    "event": "Order Completed",
                    "properties": {"total": 3, "note": f"for {EMAIL}"},
                    "context": {"ip": "203.0.113.9", "page": {"path": "/checkout"}},
                    **extra,
                },
            ]
        },
        auth=(write_key, ""),
        timeout=30,
    )
    assert response.status_code == 200, response.text


async def test_a_vendor_that_may_recover_is_retried_and_one_that_refuses_fails_the_request(
    database_url: str, database: Database
) -> None:
    braze = create_sandbox("braze")
    mailchimp = create_sandbox("mailchimp")
    braze._apply("attributes", {"external_id": USER_ID, "email": EMAIL})
    # Braze is down once; Mailchimp refuses for good, quoting the address it refused.
    braze.fail_next(1, 503, path="/users/delete")
    mailchimp.fail_next(
        1, 400, {"title": "Invalid Resource", "detail": f"{EMAIL} looks fake"}, path="/3.0/lists"
    )
    with (
        serve_in_thread(braze.app) as braze_url,
        serve_in_thread(mailchimp.app) as mailchimp_url,
        running_hub(
            database_url,
            worker_poll_interval=0.05,
            connector_max_wait_seconds=0,  # a 503 goes back to the queue at once
            retry_schedule=(0.2, 0.2, 0.2),
            retry_jitter=0.0,
        ) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        for body in (
            {
                "name": "braze",
                "connector": "braze",
                "config": {"instance_url": braze_url},
                "credentials": {"api_key": BRAZE_KEY},
            },
            {
                "name": "mailchimp",
                "connector": "mailchimp",
                "config": {
                    "api_base_url": mailchimp_url + "/3.0",
                    "list_id": mailchimp.config.lists[0],
                },
                "credentials": {"api_key": MAILCHIMP_KEY},
            },
        ):
            assert admin.post("/api/v1/connections", json=body).status_code == 201
        _identify(base_url, admin)
        started = admin.post(
            "/api/v1/privacy-requests", json={"kind": "delete", "user_id": USER_ID}
        )
        assert started.status_code == 201, started.text
        finished = finished_request(admin, started.json()["id"])

    assert finished["status"] == "failed", finished
    systems = finished["systems"]
    assert systems["renkei"]["status"] == "done"
    assert systems["braze"]["status"] == "done" and systems["braze"]["deleted"] == 1
    assert systems["mailchimp"]["status"] == "failed"
    assert "PermanentError" in systems["mailchimp"]["reason"]
    assert EMAIL not in str(finished)
    assert braze.delete_requests == 2  # once refused (503), once done
    assert braze.user(USER_ID) is None
    async with database.read() as connection:
        sealed = (await connection.execute(select(privacy_requests.c.subject_encrypted))).scalar()
    assert sealed is None  # the request finished: what identified the person is gone
    dump = await dump_all_rows(database)
    assert EMAIL not in dump and USER_ID not in dump


async def test_amplitude_without_its_secret_key_fails_the_deletion_saying_so(
    database_url: str,
) -> None:
    """Deleting at Amplitude needs the secret key, which sending events does not: a
    connection without it cannot delete, and the request must not pass as done."""
    amplitude = create_sandbox("amplitude")
    amplitude._user({"user_id": USER_ID}).properties["email"] = EMAIL
    with (
        serve_in_thread(amplitude.app) as amplitude_url,
        running_hub(database_url, worker_poll_interval=0.05) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        created = admin.post(
            "/api/v1/connections",
            json={
                "name": "amplitude",
                "connector": "amplitude",
                "config": {"base_url": amplitude_url, "privacy_url": amplitude_url},
                "credentials": {"api_key": AMPLITUDE_KEY},
            },
        )
        assert created.status_code == 201, created.text
        _identify(base_url, admin)
        started = admin.post(
            "/api/v1/privacy-requests", json={"kind": "delete", "user_id": USER_ID}
        )
        assert started.status_code == 201, started.text
        finished = finished_request(admin, started.json()["id"])

    assert finished["status"] == "failed", finished
    assert finished["systems"]["renkei"]["status"] == "done"
    outcome = finished["systems"]["amplitude"]
    assert outcome["status"] == "failed" and "retrying" not in outcome
    assert "secret_key" in outcome["reason"]
    assert amplitude.user(USER_ID) is not None and amplitude.deletion_jobs == []
    assert AMPLITUDE_KEY not in str(finished)


async def test_samples_of_blocked_events_go_with_the_person(
    database_url: str, database: Database
) -> None:
    """``block`` mode never stores the event a violation's sample comes from: the sample
    is found by what it quotes (the email in traits), not through a stored event."""
    with (
        running_hub(database_url, worker_poll_interval=0.05) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        planned = admin.post(
            "/api/v1/event-types",
            json={
                "name": "identify",
                "schema": {"type": "object", "properties": {"plan": {"enum": ["free"]}}},
                "planned": True,
            },
        )
        assert planned.status_code == 201, planned.text
        source = admin.post(
            "/api/v1/sources", json={"kind": "tracking", "name": "app", "plan_mode": "block"}
        )
        assert source.status_code == 201, source.text
        sent = httpx.post(
            f"{base_url}/v1/batch",
            json={
                "batch": [
                    {"type": "identify", "userId": USER_ID, "traits": {"email": EMAIL}},
                    {"type": "identify", "userId": USER_ID, "traits": {"plan": "gold"}},
                    {
                        "type": "identify",
                        "userId": USER_ID,
                        "traits": {"email": EMAIL, "plan": "pro"},
                    },
                ]
            },
            auth=(source.json()["write_key"], ""),
            timeout=30,
        )
        assert sent.status_code == 200, sent.text

        def samples() -> list[Any]:
            listed = admin.get("/api/v1/violations")
            assert listed.status_code == 200, listed.text
            return [row["sample"] for row in listed.json()["data"]]

        deadline = time.monotonic() + 30
        while EMAIL not in str(samples()):
            assert time.monotonic() < deadline, "the violation was never recorded"
            time.sleep(0.05)
        started = admin.post("/api/v1/privacy-requests", json={"kind": "delete", "email": EMAIL})
        assert started.status_code == 201, started.text
        finished = finished_request(admin, started.json()["id"])
        assert finished["status"] == "done", finished
        assert finished["systems"]["renkei"]["counts"]["violation_samples"] == 1
        assert samples() == [{"scrubbed": True}]
    dump = await dump_all_rows(database)
    assert EMAIL not in dump


async def test_scrubbed_events_stay_without_the_person(
    database_url: str, database: Database
) -> None:
    with (
        running_hub(database_url, worker_poll_interval=0.05) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        _identify(base_url, admin)
        started = admin.post(
            "/api/v1/privacy-requests", json={"kind": "delete", "email": EMAIL, "events": "scrub"}
        )
        assert started.status_code == 201, started.text
        assert started.json()["events_mode"] == "scrub"
        finished = finished_request(admin, started.json()["id"])
        assert finished["status"] == "done"
        assert finished["systems"]["renkei"]["counts"]["events"] == 2
        events = admin.get("/api/v1/events").json()["data"]
        assert sorted(e["type"] for e in events) == ["identify", "track"]
        track = next(e for e in events if e["type"] == "track")
        assert track["user_id"] is None and track["email"] is None
        data = track["data"]
        assert data["properties"] == {"total": 3, "note": "[deleted]"}
        assert data["context"]["page"] == {"path": "/checkout"} and "ip" not in data["context"]
    dump = await dump_all_rows(database)
    for trace in (EMAIL, USER_ID, "203.0.113.9"):
        assert trace not in dump, trace


def test_every_declared_deletion_names_a_declared_operation() -> None:
    declaring = []
    for spec in default_registry():
        connector = default_registry().get(spec.name)
        deletion = type(connector).person_deletion
        if deletion is None:
            continue
        declaring.append(spec.name)
        operation = spec.operation(deletion.operation)
        assert operation.kind == "write"
    assert {"marketo", "hubspot", "braze", "klaviyo", "mailchimp"} <= set(declaring)


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.setenv("RENKEI_DATABASE_URL", database_url)
    monkeypatch.setenv("RENKEI_SECRET_KEY", generate_key())
    monkeypatch.setenv("RENKEI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RENKEI_LOG_LEVEL", "warning")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield CliRunner()
    configure_logging("info", "json")


def test_the_cli_deletes_exports_and_suppresses(runner: CliRunner, tmp_path: Path) -> None:
    suppressed = runner.invoke(app, ["privacy", "suppress", "cli-9a@example.com"])
    assert suppressed.exit_code == 0, suppressed.output
    assert "suppressed" in suppressed.stdout and "cli-9a" not in suppressed.stdout
    listed = runner.invoke(app, ["privacy", "suppressions", "--json"])
    assert listed.exit_code == 0 and "cli-9a" not in listed.stdout
    deleted = runner.invoke(
        app, ["privacy", "delete", "--user-id", "cli-user-9a", "--in-process", "--json"]
    )
    assert deleted.exit_code == 0, deleted.output
    assert '"status": "done"' in deleted.stdout and '"renkei"' in deleted.stdout
    request_id = deleted.stdout.split('"id": "')[1].split('"')[0]
    status = runner.invoke(app, ["privacy", "status", request_id])
    assert status.exit_code == 0 and "done" in status.stdout


@pytest.mark.parametrize("backend", ["sqlite"])  # the mechanism, not the store, is tested
def test_the_cli_leaves_vendor_calls_to_the_server_that_owns_the_connections(
    runner: CliRunner, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server allows loopback targets (its sandbox); the shell running the CLI does not
    say so. The deletion is the server's to run, under its settings: the CLI queues it and
    waits for the status, and no vendor call leaves the CLI's process."""
    monkeypatch.delenv("RENKEI_ALLOW_PRIVATE_TARGETS", raising=False)
    braze = create_sandbox("braze")
    braze._apply("attributes", {"external_id": USER_ID, "email": EMAIL})
    with (
        serve_in_thread(braze.app) as braze_url,
        running_hub(
            database_url,
            secret_key=[os.environ["RENKEI_SECRET_KEY"]],
            allow_private_targets=True,
            worker_poll_interval=0.05,
        ) as (base_url, _),
        admin_client(base_url) as admin,
    ):
        created = admin.post(
            "/api/v1/connections",
            json={
                "name": "braze",
                "connector": "braze",
                "config": {"instance_url": braze_url},
                "credentials": {"api_key": BRAZE_KEY},
            },
        )
        assert created.status_code == 201, created.text
        _identify(base_url, admin)

        deleted = runner.invoke(app, ["privacy", "delete", "--user-id", USER_ID, "--json"])

        assert deleted.exit_code == 0, deleted.output
        finished = json.loads(deleted.stdout)
        assert finished["status"] == "done", finished
        assert finished["systems"]["braze"]["status"] == "done", finished
        connection = admin.get("/api/v1/connections/braze").json()
        assert connection["status"] == "active", connection
    assert braze.user(USER_ID) is None


@pytest.mark.parametrize("backend", ["sqlite"])
def test_without_a_running_server_the_cli_says_the_request_waits_for_one(
    runner: CliRunner,
) -> None:
    waited = runner.invoke(app, ["privacy", "delete", "--user-id", "nobody-7d", "--wait", "0"])
    assert waited.exit_code == 1
    assert "pending" in waited.stdout
    assert "still pending" in waited.output and "renkei serve" in waited.output
    queued = runner.invoke(app, ["privacy", "delete", "--user-id", "nobody-7d", "--queue-only"])
    assert queued.exit_code == 0 and "pending" in queued.stdout
    both = runner.invoke(
        app, ["privacy", "delete", "--user-id", "nobody-7d", "--queue-only", "--in-process"]
    )
    assert both.exit_code == 1 and "exclude each other" in both.output
