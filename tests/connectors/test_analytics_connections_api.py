"""GA4, Amplitude and OneSignal connections through ``/api/v1/connections`` over real HTTP,
with a worker in the server and the sandboxes on loopback, on SQLite and PostgreSQL: "Test
connection" (GA4's through its validation server), records submitted and sent, and no
credential in any answer or row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from renkei.sandbox import create_sandbox, serve_in_thread
from renkei.store import Database
from tests.support.rawscan import assert_not_stored
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api(database_url: str) -> Iterator[httpx.Client]:
    with (
        running_hub(database_url, connector_batch_wait_seconds=0.1) as (base_url, _),
        admin_client(base_url) as client,
    ):
        yield client


@pytest.fixture
def vendors() -> Iterator[dict[str, tuple[Any, str]]]:
    found: dict[str, tuple[Any, str]] = {}
    sandboxes = {name: create_sandbox(name) for name in ("ga4", "amplitude", "onesignal")}
    with (
        serve_in_thread(sandboxes["ga4"].app) as ga4,
        serve_in_thread(sandboxes["amplitude"].app) as amplitude,
        serve_in_thread(sandboxes["onesignal"].app) as onesignal,
    ):
        for name, url in (("ga4", ga4), ("amplitude", amplitude), ("onesignal", onesignal)):
            found[name] = (sandboxes[name], url)
        yield found


def _wait_done(api: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.get(path).json()
        if body["done"]:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} did not finish")


def _connections(vendors: dict[str, tuple[Any, str]]) -> list[dict[str, Any]]:
    ga4, ga4_url = vendors["ga4"]
    amplitude, amplitude_url = vendors["amplitude"]
    onesignal, onesignal_url = vendors["onesignal"]
    return [
        {
            "name": "ga4",
            "connector": "ga4",
            "config": {"base_url": ga4_url, "measurement_id": ga4.config.measurement_id},
            "credentials": {"api_secret": ga4.config.api_secrets[0]},
        },
        {
            "name": "amplitude",
            "connector": "amplitude",
            "config": {"base_url": amplitude_url},
            "credentials": {"api_key": amplitude.config.api_keys[0]},
        },
        {
            "name": "onesignal",
            "connector": "onesignal",
            "config": {"base_url": onesignal_url, "app_id": onesignal.config.app_id},
            "credentials": {"rest_api_key": onesignal.config.api_keys[0]},
        },
    ]


async def test_test_connection_and_submissions_for_each(
    api: httpx.Client, vendors: dict[str, tuple[Any, str]], database: Database
) -> None:
    secrets = []
    for body in _connections(vendors):
        created = api.post("/api/v1/connections", json=body)
        assert created.status_code == 201, created.text
        secret = next(iter(body["credentials"].values()))
        secrets.append(secret)
        assert secret not in created.text
        tested = api.post(f"/api/v1/connections/{body['name']}/test").json()
        assert tested["ok"] is True, tested

    ga4 = vendors["ga4"][0]
    assert [c.path for c in ga4.requests] == ["/debug/mp/collect"]  # GA4's validation server
    assert ga4.events == []

    submissions: dict[str, tuple[str, list[dict[str, Any]]]] = {
        "ga4": ("send_events", [{"client_id": f"{n}.1", "name": "sign_up"} for n in range(30)]),
        "amplitude": (
            "upload_events",
            [{"user_id": f"user-{n:04d}", "event_type": "Signed Up"} for n in range(30)],
        ),
        "onesignal": (
            "upsert_users",
            [{"external_id": f"u-{n}", "tags": {"plan": "free"}} for n in range(30)],
        ),
    }
    for name, (operation, records) in submissions.items():
        submitted = api.post(
            f"/api/v1/connections/{name}/submissions",
            json={"operation": operation, "records": [*records, {"not": "valid"}]},
        )
        assert submitted.status_code == 202, submitted.text
        outcome = _wait_done(
            api, f"/api/v1/connections/{name}/submissions/{submitted.json()['id']}"
        )
        assert outcome["counts"]["ok"] == 30, (name, outcome)
        assert outcome["records"][30]["error"]["code"] == "invalid_input"

    assert len(ga4.events) == 30
    amplitude = vendors["amplitude"][0]
    assert len(amplitude.events) == 30 and all(e["insert_id"] for e in amplitude.events)
    assert len(vendors["onesignal"][0].users) == 30
    for sandbox, _ in vendors.values():
        assert sandbox.violations == []
    listed = api.get("/api/v1/connections").text
    assert not any(secret in listed for secret in secrets)
    await assert_not_stored(database, *secrets)


def test_a_wrong_credential_fails_the_test_without_showing_it(
    api: httpx.Client, vendors: dict[str, tuple[Any, str]]
) -> None:
    for body in _connections(vendors):
        if body["name"] == "ga4":  # GA4 never says whether a secret is right
            body["config"]["measurement_id"] = "G-NOTMINE"
        body["credentials"] = {key: "wrong-credential-42" for key in body["credentials"]}
        api.post("/api/v1/connections", json=body)
        failing = api.post(f"/api/v1/connections/{body['name']}/test").json()
        assert failing["ok"] is False, body["name"]
        assert "wrong-credential-42" not in str(failing)
        kind = "PermanentError" if body["name"] == "ga4" else "ConfigurationError"
        assert failing["error"]["kind"] == kind, failing
