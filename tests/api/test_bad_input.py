"""Bad input, class by class, against the management API's JSON routes (issue 14).

Each class of bad body goes to every route of the table: the answer is a JSON 4xx in the
standard error shape, nothing is stored (no row holds the marker), and the server still
answers afterwards. Real HTTP on loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from renkei.api.middleware import MAX_JSON_DEPTH as MAX_DEPTH
from renkei.api.middleware import check_json
from renkei.hub import Hub
from renkei.store import Database
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.rawscan import dump_all_rows
from tests.support.server import ADMIN_TOKEN, running_hub

MARKER = "zzbadinput"
MAX_BODY = 64 * 1024

# (route, a valid body carrying MARKER in the field named second)
ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("/api/v1/sources", "name", {"kind": "tracking", "name": MARKER}),
    ("/api/v1/endpoints", "name", {"name": MARKER, "url": "https://crm.example.com/hooks"}),
    ("/api/v1/event-types", "description", {"name": "receipt.validated", "description": MARKER}),
    ("/api/v1/tokens", "name", {"name": MARKER, "scope": "read"}),
    ("/api/v1/events", "type", {"type": MARKER, "data": {"receipt_id": "r-1"}}),
    ("/api/v1/suppressions", "value", {"kind": "email", "value": MARKER}),
    ("/api/v1/privacy-requests", "email", {"kind": "delete", "email": MARKER}),
    (
        "/api/v1/flows",
        "name",
        {
            "name": MARKER,
            "trigger": {"event_types": ["track"]},
            "steps": [{"id": "send", "action": {"url": "https://crm.example.com/hooks"}}],
        },
    ),
]


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _nested(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def _with(field: str, value: Any) -> Callable[[str, dict[str, Any]], bytes]:
    def body(key: str, base: dict[str, Any]) -> bytes:
        return _json({**base, field: value})

    return body


# (class of bad input, the body made from a route's valid body, Content-Type, status, code)
Case = tuple[Callable[[str, dict[str, Any]], bytes], str | None, int, str]
CASES: dict[str, Case] = {
    "malformed-json": (
        lambda key, base: _json(base)[:-3] + b", }",
        "application/json",
        400,
        "invalid_json",
    ),
    "truncated-json": (lambda key, base: _json(base)[:-1], "application/json", 400, "invalid_json"),
    "nan": (
        lambda key, base: _json(base)[:-1] + b', "x": NaN}',
        "application/json",
        400,
        "invalid_json",
    ),
    "nested-300-levels": (_with("x", _nested(300)), "application/json", 400, "json_too_deep"),
    "nested-300-levels-form-type": (
        _with("x", _nested(300)),
        "application/x-www-form-urlencoded",
        400,
        "json_too_deep",
    ),
    "nested-10000-levels": (
        lambda key, base: b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        "application/json",
        400,
        "json_too_deep",
    ),
    "wrong-type": (
        lambda key, base: _json({**base, key: [MARKER]}),
        None,
        422,
        "validation_failed",
    ),
    "not-an-object": (lambda key, base: _json([base]), None, 422, "validation_failed"),
    "huge-integer": (_with("x", 2**70), "application/json", 422, "validation_failed"),
    "huge-integer-in-data": (
        lambda key, base: _json({**base, "data": {"amount": 2**70}}),
        "application/json",
        422,
        "validation_failed",
    ),
    "huge-float": (
        lambda key, base: _json(base)[:-1] + b', "x": 1e999}',
        "application/json",
        422,
        "validation_failed",
    ),
    "invalid-utf8": (
        lambda key, base: _json(base).replace(MARKER.encode(), MARKER.encode() + b"\xff\xfe"),
        "application/json",
        400,
        "invalid_json",
    ),
    "nul-escaped-in-string": (
        lambda key, base: _json({**base, key: MARKER + "\x00"}),
        "application/json",
        422,
        "validation_failed",
    ),
    "nul-in-nested-string": (
        lambda key, base: _json({**base, "data": {"note": MARKER + "\x00"}}),
        "application/json",
        422,
        "validation_failed",
    ),
    "nul-raw-byte": (
        lambda key, base: _json(base).replace(MARKER.encode(), MARKER.encode() + b"\x00"),
        "application/json",
        400,
        "invalid_json",
    ),
    "lone-surrogate": (
        lambda key, base: _json(base).replace(MARKER.encode(), MARKER.encode() + b"\\ud800"),
        "application/json",
        422,
        "validation_failed",
    ),
    "oversized": (
        lambda key, base: _json({**base, "x": "y" * (MAX_BODY + 1)}),
        "application/json",
        413,
        "payload_too_large",
    ),
    "text-xml": (lambda key, base: _json(base), "text/xml", 415, "unsupported_media_type"),
    "multipart": (
        lambda key, base: (
            b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n'
            + MARKER.encode()
            + b"\r\n--b--\r\n"
        ),
        "multipart/form-data; boundary=b",
        415,
        "unsupported_media_type",
    ),
}


# One database and one hub per module and backend for every table below (a request or
# two per row): each row creates what it needs under names of its own (``unique``) and
# compares what it can see with what was there before, so the rows share them safely.


@pytest.fixture(scope="module", params=BACKENDS)
def shared_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    return database_factory.new_url(str(request.param))


@pytest.fixture(scope="module")
def served(shared_url: str) -> Iterator[tuple[str, Hub]]:
    with running_hub(shared_url, with_worker=False, max_body_bytes=MAX_BODY) as served:
        yield served


@pytest.fixture
def unique() -> str:
    """A suffix for the names a test creates in the shared database."""
    return uuid.uuid4().hex[:8]


def _stored(database_url: str) -> str:
    async def stored() -> str:
        database = Database(database_url)
        try:
            return await dump_all_rows(database)
        finally:
            await database.dispose()

    return asyncio.run(stored())


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_a_json_4xx_and_stores_nothing(
    served: tuple[str, Hub], shared_url: str, case: str
) -> None:
    base_url, _ = served
    make_body, content_type, status, code = CASES[case]
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for path, key, base in ROUTES:
            response = client.post(path, content=make_body(key, base))
            assert response.status_code == status, (path, response.text)
            assert response.headers["content-type"] == "application/json", path
            error = response.json()["error"]
            assert set(error) == {"code", "message", "details"}, path
            if path == "/api/v1/flows" and code == "validation_failed":
                assert error["code"] in (code, "invalid_flow"), (path, error)
            else:
                assert error["code"] == code, (path, error)
            assert error["message"], path
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200

    assert MARKER not in _stored(shared_url)


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        (_json({"n": 2**63 - 1, "m": -(2**63)}), True),
        (_json({"n": 2**63}), False),
        (_json({"n": -(2**63) - 1}), False),
        (_json({"phone": "12345678901234567890"}), True),  # long digits in a string
        (_json({"x": 1e300}), True),
        (b'{"x": 1e999}', False),
        (_json(_nested(MAX_DEPTH - 1)), True),  # the top object is a level too
        (_json(_nested(MAX_DEPTH)), False),
        (_json({"s": "{" * 100}), True),  # brackets in a string are no nesting
        (_json({"s": "a\\u0000b"}), True),  # an escaped backslash, then text
        (_json({"s": "a\x00b"}), False),
        (_json({"s": "\U0001f600"}), True),
        (b'{"s": "\\ud83d"}', False),
    ],
)
def test_the_json_checks_draw_the_line_where_they_say(body: bytes, accepted: bool) -> None:
    """Fast path (orjson) and slow path (the walk) agree on each side of each limit."""
    if accepted:
        check_json(body)
    else:
        with pytest.raises(Exception) as raised:
            check_json(body)
        assert getattr(raised.value, "status", None) in (400, 422)


# (the connection's config, the path the 422 names): a URL field must hold a URL
BAD_CONNECTION_URLS = [
    ({"base_url": "not a url"}, "base_url"),
    ({"base_url": "123-ABC-456.mktorest.com"}, "base_url"),  # no scheme
    ({"base_url": "ftp://123-ABC-456.mktorest.com"}, "base_url"),
    ({"base_url": "https://"}, "base_url"),  # no host
    ({"base_url": "https://123-ABC-456.mktorest.com", "identity_url": "nope"}, "identity_url"),
]


@pytest.mark.parametrize(("config", "path"), BAD_CONNECTION_URLS)
def test_a_connection_url_that_is_no_url_is_a_422_naming_the_field(
    served: tuple[str, Hub], config: dict[str, str], path: str
) -> None:
    base_url, _ = served
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {
        "name": MARKER,
        "connector": "marketo",
        "credentials": {"client_id": "id", "client_secret": "secret"},
        "config": config,
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        before = client.get("/api/v1/connections").json()["data"]
        response = client.post("/api/v1/connections", json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_url", error
        assert f"config {path} " in error["message"], error
        assert client.get("/api/v1/connections").json()["data"] == before


# (method, path, body, status, code, what the message names): the tracking plan's inputs
# (issue 20). The types and sources named here exist first (see the test).
BAD_PLAN_INPUTS: list[tuple[str, str, dict[str, Any] | None, int, str, str]] = [
    ("POST", "/api/v1/sources", {"kind": "tracking", "name": MARKER, "plan_mode": "strict"},
     422, "validation_failed", "plan_mode"),
    ("POST", "/api/v1/sources", {"kind": "tracking", "name": MARKER, "plan_mode": ["block"]},
     422, "validation_failed", "plan_mode"),
    ("POST", "/api/v1/sources", {"kind": "webhook", "name": MARKER, "plan_mode": "block"},
     422, "invalid_source", "tracking sources only"),
    ("PATCH", "/api/v1/sources/{source}", {"plan_mode": "Block"},
     422, "validation_failed", "plan_mode"),
    ("POST", "/api/v1/event-types", {"name": "t1", "description": MARKER, "planned": "yes"},
     422, "validation_failed", "planned"),
    # Python's re takes \Z, the plan's Rust validator does not: refused when planned.
    ("POST", "/api/v1/event-types",
     {"name": "t2", "description": MARKER, "planned": True, "schema": {"pattern": "a\\Z"}},
     422, "validation_failed", "schema"),
    ("PATCH", "/api/v1/event-types/{loose}", {"planned": True},
     422, "validation_failed", "schema"),
    ("GET", "/api/v1/violations?limit=0", None, 400, "invalid_limit", "limit"),
    ("GET", "/api/v1/violations?cursor=%21%21", None, 400, "invalid_cursor", "cursor"),
    ("GET", "/api/v1/violations?source=nope", None, 404, "not_found", "nope"),
    ("GET", "/api/v1/violations?source=", None, 422, "validation_failed", "source"),
    # Inbound presets (issue 19): an unknown one names the others; a missing setting is named.
    ("POST", "/api/v1/sources", {"kind": "webhook", "name": MARKER, "preset": "paypal"},
     422, "invalid_preset", "onesignal"),
    ("POST", "/api/v1/sources", {"kind": "webhook", "name": MARKER, "preset": "stripe"},
     422, "invalid_preset", "secret"),
    ("POST", "/api/v1/sources",
     {"kind": "webhook", "name": MARKER, "preset": "stripe", "settings": {"secret": [MARKER]}},
     422, "invalid_preset", "secret"),
    ("POST", "/api/v1/sources",
     {"kind": "webhook", "name": MARKER, "preset": "stripe", "settings": "whsec_x"},
     422, "validation_failed", "settings"),
    ("GET", "/api/v1/source-presets/nope", None, 404, "not_found", "nope"),
    # KARTE x Marketo (issue 19): marketo_hash and the segments as profile queries.
    ("GET", "/api/v1/connections/nope/marketo-hash?email=a@example.com", None,
     404, "not_found", "nope"),
    ("GET", "/api/v1/connections/nope/marketo-hash", None, 422, "validation_failed", "email"),
    ("GET", "/api/v1/profiles?has=Not%20A%20Kind", None, 400, "invalid_filter", "has"),
    ("GET", "/api/v1/profiles?has=marketo_lead_id&connection=nope", None,
     404, "not_found", "nope"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "names"),
    BAD_PLAN_INPUTS,
    ids=[f"{method} {path} {body}" for method, path, body, *_ in BAD_PLAN_INPUTS],
)
def test_bad_tracking_plan_input_is_a_clear_4xx_and_changes_nothing(
    served: tuple[str, Hub],
    shared_url: str,
    unique: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    code: str,
    names: str,
) -> None:
    base_url, _ = served
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        app = {"kind": "tracking", "name": f"app-{unique}"}
        source = client.post("/api/v1/sources", json=app)
        assert source.status_code == 201, source.text
        # fine while not planned
        loose = {"name": f"loose-{unique}", "schema": {"pattern": "a\\Z"}}
        assert client.post("/api/v1/event-types", json=loose).status_code == 201
        url = path.format(source=source.json()["id"], loose=loose["name"])
        response = client.request(method, url, json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and names in str(error), error
        assert client.get(f"/api/v1/sources/{source.json()['id']}").json()["plan_mode"] is None
        assert client.get(f"/api/v1/event-types/{loose['name']}").json()["planned"] is False

    assert MARKER not in _stored(shared_url)


# (method, path, body, status, code, what the message names): OAuth connect (issue 19).
# The connections named exist first (see the test); the callback is asked for JSON.
BAD_OAUTH_INPUTS: list[tuple[str, str, dict[str, Any] | None, int, str, str]] = [
    ("POST", "/api/v1/connections/nope/oauth/start", None, 404, "not_found", "nope"),
    ("POST", "/api/v1/connections/{alerts}/oauth/start", None, 422, "oauth_unsupported", "slack"),
    ("POST", "/api/v1/connections/{crm-bare}/oauth/start", None,
     422, "oauth_client_missing", "client_id"),
    ("POST", "/api/v1/connections/{crm}/oauth/start", {"return_to": "elsewhere"},
     422, "validation_failed", "return_to"),
    ("POST", "/api/v1/connections/{crm}/oauth/start", {"return_to": ["json"]},
     422, "validation_failed", "return_to"),
    ("GET", "/oauth/callback", None, 400, "oauth_state_missing", "state"),
    ("GET", "/oauth/callback?code=abc", None, 400, "oauth_state_missing", "state"),
    ("GET", "/oauth/callback?error=access_denied", None, 400, "oauth_state_missing", "state"),
    ("GET", f"/oauth/callback?code=abc&state={MARKER}", None, 400, "oauth_state_unknown", "unknown"),
    ("GET", f"/oauth/callback?code=abc&state={'s' * 5000}", None,
     422, "validation_failed", "state"),
    ("GET", f"/oauth/callback?code={'c' * 5000}&state=x", None, 422, "validation_failed", "code"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "names"),
    BAD_OAUTH_INPUTS,
    ids=[f"{method} {path[:60]} {body}" for method, path, body, *_ in BAD_OAUTH_INPUTS],
)
def test_bad_oauth_input_is_a_clear_4xx_and_connects_nothing(
    served: tuple[str, Hub],
    unique: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    code: str,
    names: str,
) -> None:
    base_url, _ = served
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept": "application/json"}
    made = {role: f"{role}-{unique}" for role in ("crm", "crm-bare", "alerts")}
    connections = [
        {"name": made["crm"], "connector": "hubspot",
         "credentials": {"client_id": "app", "client_secret": "app-secret"}},
        {"name": made["crm-bare"], "connector": "hubspot"},
        {"name": made["alerts"], "connector": "slack",
         "credentials": {"webhook_url": "https://hooks.slack.com/services/T0/B0/x"}},
    ]  # fmt: skip
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for connection in connections:
            created = client.post("/api/v1/connections", json=connection)
            assert created.status_code == 201, created.text
        for role, name in made.items():  # replace, not format: no braces in the other rows
            path = path.replace(f"{{{role}}}", name)
        response = client.request(method, path, json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and names in str(error), error
        crm = client.get(f"/api/v1/connections/{made['crm']}").json()
        assert crm["status"] == "active" and "access_token" not in crm["credentials_set"]


# The sql connector (issue 19): a database URL that is none, and a sync query that writes
# (the connection exists first; its URL names a SQLite file that is never opened here).
BAD_SQL_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    (
        "/api/v1/connections",
        {
            "name": MARKER,
            "connector": "sql",
            "credentials": {"url": f"redis://u:{MARKER}@127.0.0.1/0"},
        },
        "unsupported database scheme",
    ),
    (
        "/api/v1/connections",
        {
            "name": MARKER,
            "connector": "sql",
            "credentials": {"url": f"postgresql://u:{MARKER}@/db"},
        },
        "needs a host",
    ),
    (
        "/api/v1/connections",
        {"name": MARKER, "connector": "sql", "credentials": {}},
        "missing credential 'url'",
    ),
    (
        "/api/v1/connections",
        {
            "name": MARKER,
            "connector": "sql",
            "credentials": {"url": "sqlite:////nope.db"},
            "config": {"timeout_seconds": "soon"},
        },
        "timeout_seconds",
    ),
    (
        "/api/v1/syncs",
        {
            "name": MARKER,
            "connection": "warehouse",
            "direction": "pull",
            "object": "rows",
            "config": {"query": "DELETE FROM t", "cursor_column": "u"},
        },
        "only SELECT",
    ),
    (
        "/api/v1/syncs",
        {
            "name": MARKER,
            "connection": "warehouse",
            "direction": "pull",
            "object": "events",
            "config": {"query": "SELECT 1; DROP TABLE t", "cursor_column": "u"},
        },
        "single statement",
    ),
    (
        "/api/v1/syncs",
        {
            "name": MARKER,
            "connection": "warehouse",
            "direction": "pull",
            "object": "rows",
            "config": {"query": "SELECT * FROM t", "cursor_column": "u", "page_size": 100000},
        },
        "page_size",
    ),
]


@pytest.mark.parametrize(("route", "body", "names"), BAD_SQL_INPUTS)
def test_bad_sql_connector_input_is_a_422_that_never_echoes_the_url(
    served: tuple[str, Hub], unique: str, route: str, body: dict[str, Any], names: str
) -> None:
    base_url, _ = served
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        created = client.post(
            "/api/v1/connections",
            json={
                "name": f"warehouse-{unique}",
                "connector": "sql",
                "credentials": {"url": "sqlite:////nonexistent/renkei-bad-input.db"},
            },
        )
        assert created.status_code == 201, created.text
        if body.get("connection") == "warehouse":
            body = {**body, "connection": f"warehouse-{unique}"}
        response = client.post(route, json=body)
        assert response.status_code == 422, response.text
        assert names in response.json()["error"]["message"], response.text
        assert f":{MARKER}@" not in response.text
        assert MARKER not in client.get("/api/v1/connections").text
        assert MARKER not in client.get("/api/v1/syncs").text
