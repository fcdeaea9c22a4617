"""The connector catalog: the service, ``GET /api/v1/connectors`` over real HTTP (on
SQLite and PostgreSQL) and ``renkei connectors list``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from renkei.api.routes import ROUTERS
from renkei.api.v1 import connectors as connectors_api
from renkei.cli.main import app as cli
from renkei.connectors.catalog import describe_connector, format_limits, list_connectors
from renkei.hub import Hub
from renkei.sandbox.braze import DEFAULT_API_KEY as BRAZE_KEY
from renkei.sandbox.klaviyo import DEFAULT_API_KEY as KLAVIYO_KEY
from renkei.sandbox.mailchimp import DEFAULT_API_KEY as MAILCHIMP_KEY
from renkei.usecases import LOCAL
from renkei.usecases import connections as connections_usecase
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as hub_settings

OURS = {"braze", "mailchimp", "klaviyo", "slack", "http"}
EVERY = OURS | {"marketo", "hubspot"}
SANDBOX_SECRETS = (BRAZE_KEY, KLAVIYO_KEY, MAILCHIMP_KEY)


def assert_entry_is_complete(entry: dict[str, Any]) -> None:
    assert entry["title"] and entry["docs_url"].startswith("https://")
    assert entry["operations"], entry["name"]
    for op in entry["operations"]:
        assert op["kind"] in ("read", "write") and isinstance(op["input_schema"], dict)
        assert op["batchable"] == (op["max_batch_size"] is not None)
    for field in entry["credentials"]:
        assert set(field) == {"name", "description", "required", "secret"}  # never a value
    for field in entry["config"]:
        if field["secret"]:
            assert field["default"] is None
    assert set(entry["limits"]) >= {"rate_limit", "daily_quota", "per_operation", "notes"}
    assert entry["directions"] == sorted({o["direction"] for o in entry["sync_objects"]})
    assert isinstance(entry["auth"], list)
    operations = {op["name"] for op in entry["operations"]}
    for declared in entry["sync_objects"]:
        assert declared["direction"] in ("pull", "push")
        if declared.get("operation"):  # a push names the operation it writes with
            assert declared["operation"] in operations, declared


def test_every_connector_is_in_the_catalog_with_operations_fields_and_limits() -> None:
    entries = {entry["name"]: entry for entry in list_connectors()}
    assert set(entries) >= EVERY
    for entry in entries.values():
        assert_entry_is_complete(entry)
    assert entries["braze"]["limits"]["rate_limit"] == {
        "calls": 3000,
        "per_seconds": 3.0,
        "concurrency": None,
    }
    assert entries["braze"]["limits"]["batch_sizes"] == {
        "track_attributes": 75,
        "update_users": 75,
        "track_events": 75,
        "track_purchases": 75,
    }
    assert entries["mailchimp"]["limits"]["rate_limit"]["concurrency"] == 10
    assert entries["mailchimp"]["limits"]["batch_sizes"]["upsert_members"] == 500
    klaviyo = entries["klaviyo"]["limits"]["per_operation"]
    assert klaviyo["upsert_profile"] == [
        {"name": "burst", "calls": 75, "per_seconds": 1.0},
        {"name": "steady", "calls": 750, "per_seconds": 60.0},
    ]
    assert entries["slack"]["credentials"] == [
        {
            "name": "webhook_url",
            "description": entries["slack"]["credentials"][0]["description"],
            "required": True,
            "secret": True,
        }
    ]
    assert entries["marketo"]["limits"]["daily_quota"]["calls"] == 50_000


def test_every_connector_that_holds_people_can_be_pushed_to() -> None:
    """Issue 19, point 2: what syncs can do is part of each entry, declared by the connector."""
    entries = {entry["name"]: entry for entry in list_connectors()}
    pushes = {
        name: [o["name"] for o in entry["sync_objects"] if o["direction"] == "push"]
        for name, entry in entries.items()
    }
    for name, objects in {
        "marketo": ["leads", "activities"],
        "hubspot": ["contacts"],
        "braze": ["users"],
        "klaviyo": ["profiles"],
        "mailchimp": ["members"],
        "amplitude": ["users"],
        "onesignal": ["users"],
    }.items():
        assert pushes[name] == objects, name
    assert entries["marketo"]["directions"] == ["pull", "push"]
    (leads,) = [
        o
        for o in entries["marketo"]["sync_objects"]
        if o["name"] == "leads" and o["direction"] == "push"
    ]
    assert leads["links_by"] == "marketo_cookie" and leads["batch_size"] == 300
    assert entries["slack"]["sync_objects"] == [] and entries["slack"]["directions"] == []


def test_auth_kinds_come_from_the_oauth_flow_and_the_credential_fields() -> None:
    entries = {entry["name"]: entry for entry in list_connectors()}
    assert entries["marketo"]["auth"] == ["oauth2_client_credentials"]
    assert entries["braze"]["auth"] == ["api_key"]
    assert entries["slack"]["auth"] == ["webhook_url"]
    assert entries["hubspot"]["auth"][0] == "oauth2_authorization_code"


def test_the_use_case_joins_each_connector_with_its_sandbox() -> None:
    entries = {
        entry["name"]: entry for entry in connections_usecase.catalog(LOCAL, limit=100).items
    }
    assert entries["marketo"]["sandbox"] == {
        "name": "marketo",
        "command": "renkei sandbox marketo",
    }
    assert entries["http"]["sandbox"] is None  # the generic connector plays no vendor
    for name in EVERY - {"http"}:
        assert entries[name]["sandbox"]["command"] == f"renkei sandbox {name}", name


def test_limits_read_as_short_lines() -> None:
    assert format_limits(describe_connector("braze")) == ["3,000/3 s"]
    assert format_limits(describe_connector("mailchimp")) == ["10 concurrent"]
    assert format_limits(describe_connector("klaviyo")) == [
        "bulk_import_job, bulk_import_profiles: 10/s burst, 150/min steady",
        "create_event, create_events: 350/s burst, 3,500/min steady",
        "list_profiles, push_profiles, upsert_profile, upsert_profiles: 75/s burst, 750/min steady",
        "request_profile_deletion: 3/s burst, 60/min steady",
    ]


def test_the_api_feature_is_installed_by_default() -> None:
    assert connectors_api.router in ROUTERS


def test_catalog_api_over_http(database_url: str) -> None:
    hub = Hub(hub_settings(database_url))
    with running_hub(database_url, hub=hub, with_worker=False) as (base_url, _):
        with admin_client(base_url) as client:
            listing = client.get("/api/v1/connectors")
            assert listing.status_code == 200, listing.text
            body = listing.json()
            assert body["next_cursor"] is None
            names = [entry["name"] for entry in body["data"]]
            assert names == sorted(names) and set(names) >= EVERY
            for entry in body["data"]:
                assert_entry_is_complete(entry)
            marketo = next(e for e in body["data"] if e["name"] == "marketo")
            assert marketo["sandbox"]["command"] == "renkei sandbox marketo"
            assert marketo["directions"] == ["pull", "push"]
            assert not any(secret in listing.text for secret in SANDBOX_SECRETS)

            seen: list[str] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/v1/connectors", params=params).json()
                seen += [entry["name"] for entry in page["data"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == names

            one = client.get("/api/v1/connectors/klaviyo")
            assert one.status_code == 200
            operations = {op["name"]: op for op in one.json()["operations"]}
            assert operations["bulk_import_profiles"]["max_batch_size"] == 10_000
            assert operations["create_event"]["limits"][0] == {
                "name": "burst",
                "calls": 350,
                "per_seconds": 1.0,
            }

            missing = client.get("/api/v1/connectors/nope")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "not_found"
            assert client.get("/api/v1/connectors", params={"cursor": "%%%"}).status_code == 400

            openapi = client.get("/openapi.json").json()
            assert "/api/v1/connectors/{name}" in openapi["paths"]
        with admin_client(base_url, token="rk_nope") as anonymous:
            assert anonymous.get("/api/v1/connectors").status_code == 401


def test_cli_lists_and_shows_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    from renkei.cli import _common

    # The console measured its width when it was created; make the table wide enough.
    monkeypatch.setattr(_common.console, "width", 200)
    runner = CliRunner()
    listing = runner.invoke(cli, ["connectors", "list"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0, listing.output
    for name in EVERY:
        assert name in listing.output
    assert "track_events (batch ≤75)" in listing.output
    assert "10 concurrent" in listing.output
    assert "push members" in listing.output  # mailchimp's sync object
    assert "renkei sandbox klaviyo" in listing.output
    assert "oauth2_client_credentials" in listing.output  # marketo's auth

    as_json = runner.invoke(cli, ["connectors", "list", "--json"], env={"COLUMNS": "200"})
    entries = json.loads(as_json.output)
    assert {entry["name"] for entry in entries} >= EVERY

    shown = runner.invoke(cli, ["connectors", "show", "slack"], env={"COLUMNS": "200"})
    assert json.loads(shown.output)["operations"][0]["name"] == "post_message"
    braze = json.loads(
        runner.invoke(cli, ["connectors", "show", "braze"], env={"COLUMNS": "200"}).output
    )
    assert braze["sync_objects"][0]["operation"] == "update_users"
    assert braze["sandbox"]["name"] == "braze" and braze["auth"] == ["api_key"]
    unknown = runner.invoke(cli, ["connectors", "show", "nope"])
    assert unknown.exit_code == 1 and "unknown connector 'nope'" in unknown.stderr


@pytest.mark.parametrize("name", sorted(OURS))
def test_our_connectors_document_their_limits(name: str) -> None:
    entry = describe_connector(name)
    assert entry["limits"]["notes"], name


def test_with_every_feature_the_catalog_never_shows_a_stored_credential(
    database_url: str,
) -> None:
    secret = "braze-rest-key-that-must-never-show-0001"
    with (
        running_hub(database_url, with_worker=False) as (base_url, _),
        admin_client(base_url) as client,
    ):
        created = client.post(
            "/api/v1/connections",
            json={
                "name": "braze",
                "connector": "braze",
                "config": {"instance_url": "https://rest.iad-01.braze.com"},
                "credentials": {"api_key": secret},
            },
        )
        assert created.status_code == 201, created.text
        for path in ("/api/v1/connectors", "/api/v1/connectors/braze"):
            answer = client.get(path)
            assert answer.status_code == 200
            assert secret not in answer.text
        entry = client.get("/api/v1/connectors/braze").json()
        assert [f["name"] for f in entry["credentials"]] == ["api_key"]
