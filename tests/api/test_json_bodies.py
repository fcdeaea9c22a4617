"""JSON bodies on the management API: the content types a client really sends (issue 14).

``curl -d '{...}'`` sends ``Content-Type: application/x-www-form-urlencoded``; a script may
send none at all. Both carry JSON to every JSON route; any other media type is a 415 that
names the header. Real HTTP on loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from renkei.hub import Hub
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import ADMIN_TOKEN, admin_client, running_hub

FORM = "application/x-www-form-urlencoded"
# (path, body) for creation routes of the management API, publishing included. The names
# get a suffix per test (``named``): the rows share one database per module and backend.
CREATIONS = [
    ("/api/v1/sources", {"kind": "tracking", "name": "web"}),
    ("/api/v1/endpoints", {"name": "crm", "url": "https://crm.example.com/hooks"}),
    ("/api/v1/tokens", {"name": "ci", "scope": "read"}),
    ("/api/v1/event-types", {"name": "receipt.validated"}),
    ("/api/v1/events", {"type": "receipt.validated", "data": {"receipt_id": "r-1"}}),
]


@pytest.fixture(scope="module", params=BACKENDS)
def shared_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    return database_factory.new_url(str(request.param))


@pytest.fixture(scope="module")
def served(shared_url: str) -> Iterator[tuple[str, Hub]]:
    """One hub per module and backend: each test creates under names of its own and
    compares listings with what was there before."""
    with running_hub(shared_url, with_worker=False) as served:
        yield served


def named(body: dict[str, object]) -> dict[str, object]:
    """``body`` with a name of its own, so that a unique name is never taken already."""
    if "name" not in body:
        return body
    return {**body, "name": f"{body['name']}-{uuid.uuid4().hex[:8]}"}


def _post(base_url: str, path: str, body: bytes, content_type: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return httpx.post(f"{base_url}{path}", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize("content_type", [None, FORM, f"{FORM}; charset=utf-8"])
@pytest.mark.parametrize(("path", "body"), CREATIONS, ids=[path for path, _ in CREATIONS])
def test_json_without_a_json_content_type_is_accepted(
    served: tuple[str, Hub], path: str, body: dict[str, object], content_type: str | None
) -> None:
    base_url, _ = served
    response = _post(base_url, path, json.dumps(named(body)).encode(), content_type)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "content_type",
    ["text/xml", "multipart/form-data; boundary=x", "application/octet-stream", "text/plain"],
)
@pytest.mark.parametrize(("path", "body"), CREATIONS, ids=[path for path, _ in CREATIONS])
def test_other_media_types_get_415_naming_the_header(
    served: tuple[str, Hub], path: str, body: dict[str, object], content_type: str
) -> None:
    base_url, _ = served
    listing = path if path != "/api/v1/events" else "/api/v1/events?limit=10"
    with admin_client(base_url) as admin:
        before = admin.get(listing)
        assert before.status_code == 200, before.text
        response = _post(base_url, path, json.dumps(named(body)).encode(), content_type)
        assert response.status_code == 415, response.text
        error = response.json()["error"]
        assert error["code"] == "unsupported_media_type"
        assert "Content-Type" in error["message"]
        assert error["details"]["header"] == "Content-Type"
        assert error["details"]["content_type"] == content_type.partition(";")[0]
        listed = admin.get(listing)
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"] == before.json()["data"]


def test_json_suffix_media_types_are_json(served: tuple[str, Hub]) -> None:
    base_url, _ = served
    body = json.dumps(named({"kind": "tracking", "name": "web"})).encode()
    response = _post(base_url, "/api/v1/sources", body, "application/merge-patch+json")
    assert response.status_code == 201, response.text


def test_a_form_body_that_is_not_json_says_to_send_json(served: tuple[str, Hub]) -> None:
    base_url, _ = served
    response = _post(base_url, "/api/v1/sources", b"kind=tracking&name=web", FORM)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "application/json" in error["message"]


def test_a_body_less_post_needs_no_content_type(served: tuple[str, Hub]) -> None:
    base_url, _ = served
    with admin_client(base_url) as admin:
        endpoint = admin.post(
            "/api/v1/endpoints", json=named({"name": "crm", "url": "https://crm.example.com/hooks"})
        ).json()
    response = _post(base_url, f"/api/v1/endpoints/{endpoint['id']}/secret/rotate", b"", None)
    assert response.status_code < 300, response.text


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_docs_curl_commands_work(served: tuple[str, Hub]) -> None:
    """The commands of README.md and docs/*.md, as written (curl -d, no Content-Type)."""
    base_url, _ = served
    auth = f"Authorization: Bearer {ADMIN_TOKEN}"
    commands = [
        ("/api/v1/sources", '{"kind": "tracking", "name": "web"}'),
        (
            "/api/v1/sources",
            '{\n  "kind": "webhook", "name": "stripe",\n'
            '  "verification": {"scheme": "stripe", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},\n'
            '  "mapping": {"type": "type", "type_prefix": "stripe.", "id": "id", '
            '"occurred_at": "created"}}',
        ),
        (
            "/api/v1/endpoints",
            '{"name": "crm", "url": "https://crm.example.com/hooks", "event_types": ["track"]}',
        ),
        (
            "/api/v1/events",
            '{"type": "receipt.receipt_validated", "data": {"receipt_id": "r-1"}}',
        ),
    ]
    for path, data in commands:
        completed = subprocess.run(
            ["curl", "-s", "-w", "\n%{http_code}", "-H", auth, f"{base_url}{path}", "-d", data],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        body, _, status = completed.stdout.rpartition("\n")
        assert status == "201", (path, body)
        assert json.loads(body)["id"]
