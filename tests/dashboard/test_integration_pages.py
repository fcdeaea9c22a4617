"""The flows, connections and syncs pages over HTTP, on both backends: what they show, a
read token refused, names holding HTML kept as text, secrets never on a page, and the
forms' bad input answered on the page with its status, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from tests.dashboard.served import hidden_csrf, served_dashboard, signed_in
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import ADMIN_TOKEN, admin_client

HOSTILE = '<script>alert("x")</script><b>bold</b>'
SECRET = "marketo-client-secret-never-shown"
FLOW = {
    "name": HOSTILE,
    "description": "Hot leads to sales",
    "trigger": {"event_types": ["track"], "names": ["Order Completed"]},
    "steps": [
        {"id": "big", "filter": {"total": {"$gte": 100}}},
        {
            "id": "contact",
            "map": {
                "fields": [
                    {"target": "email", "source": "event.email", "convert": ["trim", "lowercase"]},
                    {"target": "total", "source": "data.total"},
                ]
            },
        },
        {
            "id": "route",
            "branch": {
                "paths": [{"name": "vip", "when": {"total": {"$gte": 1000}}, "steps": []}],
            },
        },
        {
            "id": "send",
            "action": {
                "url": "https://hooks.example.com/sales",
                "headers": {"Authorization": "Bearer {{ secrets.sales_key }}"},
            },
        },
    ],
}


@dataclass
class Seeded:
    url: str
    admin: httpx.Client
    reader: httpx.Client
    flow_id: str
    connection_id: str
    sync_id: str


@contextmanager
def seeded_dashboard(database_url: str) -> Iterator[Seeded]:
    with served_dashboard(database_url, allow_private_targets=False) as (url, _):
        api = admin_client(url)
        flow = api.post("/api/v1/flows", json=FLOW)
        assert flow.status_code == 201, flow.text
        connection = api.post(
            "/api/v1/connections",
            json={
                "name": "marketo",
                "connector": "marketo",
                "config": {"base_url": "https://123-ABC-456.mktorest.com"},
                "credentials": {"client_id": "renkei", "client_secret": SECRET},
                "limits": {"daily_quota": {"calls": 50000}},
            },
        )
        assert connection.status_code == 201, connection.text
        sync = api.post(
            "/api/v1/syncs",
            json={
                "name": "profiles-to-marketo-leads",
                "connection": "marketo",
                "direction": "push",
                "object": "leads",
                "config": {"mapping": {"fields": [{"target": "email", "source": "email"}]}},
                "trigger": {"every_seconds": 1800, "events": ["identify"]},
            },
        )
        assert sync.status_code == 201, sync.text
        read_token = api.post("/api/v1/tokens", json={"name": "reader", "scope": "read"})
        yield Seeded(
            url,
            signed_in(url, ADMIN_TOKEN),
            signed_in(url, read_token.json()["token"]),
            flow.json()["id"],
            connection.json()["id"],
            sync.json()["id"],
        )


@pytest.fixture
def seeded(database_url: str) -> Iterator[Seeded]:
    """A dashboard of its own, for the tests that change what the others would see (a
    flow turned off, a run queued, a secret or an event added) or count deliveries."""
    with seeded_dashboard(database_url) as seeded:
        yield seeded


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> Iterator[Seeded]:
    """One dashboard per module and backend for the tests that only look, or whose input
    is refused (the tables): none of them changes what another sees."""
    with seeded_dashboard(database_factory.new_url(str(request.param))) as seeded:
        yield seeded


def test_the_flows_list_and_a_flows_page(shared: Seeded) -> None:
    listed = shared.admin.get("/ui/flows")
    assert listed.status_code == 200
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in listed.text
    assert HOSTILE not in listed.text
    page = shared.admin.get(f"/ui/flows/{shared.flow_id}")
    assert page.status_code == 200, page.text[-2000:]
    text = page.text
    assert HOSTILE not in text
    for drawn in ("flow-box kind-trigger", "kind-filter", "kind-map", "kind-branch", "kind-action"):
        assert drawn in text
    assert "POST https://hooks.example.com/sales" in text
    assert "event.email" in text and "trim, lowercase" in text  # the mapping table
    assert "secrets.sales_key" not in text  # the Authorization header is redacted
    assert "<script" not in text.replace('<script src="/ui/static/', "")


def test_a_preview_shows_what_would_be_sent_and_sends_nothing(seeded: Seeded) -> None:
    path = f"/ui/flows/{seeded.flow_id}"
    csrf = hidden_csrf(seeded.admin.get(path).text)
    event = '{"type": "track", "name": "Order Completed", "email": " A@B.example ", "data": {"total": 120}}'
    answer = seeded.admin.post(f"{path}/preview", data={"event": event, "csrf_token": csrf})
    assert answer.status_code == 200, answer.text[-2000:]
    assert "matches this event" in answer.text
    assert "https://hooks.example.com/sales" in answer.text
    assert "a@b.example" in answer.text  # the map step's output, trimmed and lowercased
    assert "Nothing was sent" in answer.text
    deliveries = admin_client(seeded.url).get("/api/v1/deliveries").json()["data"]
    assert deliveries == []
    runs = admin_client(seeded.url).get(f"/api/v1/flows/{seeded.flow_id}/runs").json()["data"]
    assert runs == []


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({}, 422, "paste an event or choose a recent one"),
        ({"event": "{not json"}, 422, "the event is not valid JSON"),
        ({"event": "[1, 2]"}, 422, "the event must be a JSON object"),
        ({"event": '"track"'}, 422, "the event must be a JSON object"),
        ({"event": "x" * 40_000}, 422, "too long"),
        ({"event_id": "evt_nope"}, 404, "evt_nope"),
    ],
)
def test_a_preview_refuses_bad_input_on_the_page(
    shared: Seeded, data: dict[str, str], status: int, message: str
) -> None:
    path = f"/ui/flows/{shared.flow_id}"
    csrf = hidden_csrf(shared.admin.get(path).text)
    answer = shared.admin.post(f"{path}/preview", data={**data, "csrf_token": csrf})
    assert answer.status_code == status, answer.text[-2000:]
    assert 'role="alert"' in answer.text
    assert message in answer.text


def test_enable_and_disable(seeded: Seeded) -> None:
    path = f"/ui/flows/{seeded.flow_id}"
    csrf = hidden_csrf(seeded.admin.get(path).text)
    off = seeded.admin.post(f"{path}/disable", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Disabled: new events no longer start runs" in off.text
    assert (
        admin_client(seeded.url).get(f"/api/v1/flows/{seeded.flow_id}").json()["enabled"] is False
    )
    on = seeded.admin.post(f"{path}/enable", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Enabled: new events start runs." in on.text


def test_the_connections_page_shows_cards_gauges_and_no_secret(seeded: Seeded) -> None:
    page = seeded.admin.get("/ui/connections")
    assert page.status_code == 200, page.text[-2000:]
    assert "Adobe Marketo Engage" in page.text
    assert f'<meter id="quota-{seeded.connection_id}"' in page.text
    assert "0 of 50,000 calls today" in page.text
    assert SECRET not in page.text
    form = seeded.admin.get("/ui/connections/new/marketo")
    assert form.status_code == 200
    assert 'name="credentials.client_secret" type="password"' in form.text
    assert 'name="credentials.client_id" type="text"' in form.text


def test_a_connect_form_refused_never_echoes_a_secret(shared: Seeded) -> None:
    csrf = hidden_csrf(shared.admin.get("/ui/connections/new/marketo").text)
    answer = shared.admin.post(
        "/ui/connections",
        data={
            "connector": "marketo",
            "name": "marketo",  # taken
            "credentials.client_id": "kept-id",
            "credentials.client_secret": SECRET,
            "config.base_url": "https://123-ABC-456.mktorest.com",
            "csrf_token": csrf,
        },
    )
    assert answer.status_code == 409, answer.text[-2000:]
    assert 'value="kept-id"' in answer.text
    assert SECRET not in answer.text


CONNECT = {
    "connector": "marketo",
    "name": "marketo-2",
    "credentials.client_id": "id",
    "credentials.client_secret": "secret",
    "config.base_url": "https://123-ABC-456.mktorest.com",
}


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"name": "  "}, 422, "give the connection a name"),
        ({"credentials.client_secret": ""}, 422, "client_secret is required"),
        ({"config.base_url": ""}, 422, "base_url is required"),
        ({"config.base_url": "http://10.1.2.3"}, 422, "10.1.2.3"),
        ({"config.base_url": "not a url"}, 422, "config base_url must be an absolute http"),
        ({"daily_quota": "lots"}, 422, "the daily quota must be a whole number"),
        ({"daily_quota": "0"}, 422, "the daily quota must be a whole number"),
        ({"name": "x" * 500}, 422, "name"),
        ({"connector": "nope"}, 404, "unknown connector"),
    ],
)
def test_the_connect_form_refuses_bad_input_on_the_page(
    shared: Seeded, change: dict[str, str], status: int, message: str
) -> None:
    csrf = hidden_csrf(shared.admin.get("/ui/connections/new/marketo").text)
    answer = shared.admin.post("/ui/connections", data={**CONNECT, **change, "csrf_token": csrf})
    assert answer.status_code == status, answer.text[-2000:]
    assert 'role="alert"' in answer.text
    assert message in answer.text


def test_a_failed_connection_test_is_an_answer_on_the_page(seeded: Seeded) -> None:
    csrf = hidden_csrf(seeded.admin.get("/ui/connections").text)
    answer = seeded.admin.post(
        f"/ui/connections/{seeded.connection_id}/test", data={"csrf_token": csrf}
    )
    assert answer.status_code == 200, answer.text[-2000:]
    assert "The test failed." in answer.text  # the private-address guard or no such host
    assert SECRET not in answer.text


def test_the_syncs_page_shows_schedule_runs_and_the_quota_picture(seeded: Seeded) -> None:
    page = seeded.admin.get("/ui/syncs")
    assert page.status_code == 200, page.text[-2000:]
    text = page.text
    assert "profiles-to-marketo-leads" in text
    assert "every 30 min · on identify" in text
    assert "Quota of marketo today" in text
    assert text.count('class="bar-batch"') == 24
    assert "budget: 2,083 / hour" in text
    csrf = hidden_csrf(text)
    ran = seeded.admin.post(
        f"/ui/syncs/{seeded.sync_id}/run", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert ran.status_code == 200
    assert "Run queued" in ran.text
    assert "<progress" in ran.text  # the queued run, not started yet: no worker here


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/ui/flows/{flow}/preview", {"event": '{"type": "track"}'}),
        ("/ui/flows/{flow}/disable", {}),
        ("/ui/flows/{flow}/enable", {}),
        ("/ui/connections", CONNECT),
        ("/ui/connections/{connection}/test", {}),
        ("/ui/syncs/{sync}/run", {}),
    ],
)
def test_a_read_token_is_refused(shared: Seeded, path: str, data: dict[str, str]) -> None:
    target = path.format(flow=shared.flow_id, connection=shared.connection_id, sync=shared.sync_id)
    csrf = hidden_csrf(shared.reader.get("/ui/flows").text)
    answer = shared.reader.post(target, data={**data, "csrf_token": csrf})
    assert answer.status_code == 403, answer.text[-2000:]
    assert "this token&#39;s scope is read" in answer.text


def test_a_read_token_sees_the_pages_with_buttons_disabled(shared: Seeded) -> None:
    for path, button in (
        (f"/ui/flows/{shared.flow_id}", "Disable"),
        ("/ui/connections", "Test connection"),
        ("/ui/syncs", "Run now"),
    ):
        page = shared.reader.get(path)
        assert page.status_code == 200, page.text[-2000:]
        assert f'disabled title="Your token is read-only.">{button}</button>' in page.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/ui/flows/flow_nope", 404),
        ("POST", "/ui/flows/flow_nope/enable", 404),
        ("GET", "/ui/flows?cursor=%%%", 400),
        ("GET", "/ui/connections/new/nope", 404),
        ("POST", "/ui/connections/conn_nope/test", 404),
        ("POST", "/ui/syncs/sync_nope/run", 404),
        ("GET", "/ui/syncs?cursor=bad", 400),
        ("GET", "/ui/flows/{flow}?runs=bad", 400),
    ],
)
def test_unknown_and_bad_references_are_pages_with_their_status(
    shared: Seeded, method: str, path: str, status: int
) -> None:
    csrf = hidden_csrf(shared.admin.get("/ui/flows").text)
    answer = shared.admin.request(
        method,
        path.format(flow=shared.flow_id),
        data={"csrf_token": csrf} if method == "POST" else None,
    )
    assert answer.status_code == status, answer.text[-2000:]
    assert 'role="alert"' in answer.text


def test_a_preview_of_a_recent_event_picked_from_the_list(seeded: Seeded) -> None:
    # The trigger's event (a track named Order Completed, from the tracking API): one it
    # does not match would start no run and send nothing.
    api = admin_client(seeded.url)
    source = api.post("/api/v1/sources", json={"kind": "tracking", "name": "Shop"}).json()
    published = httpx.post(
        f"{seeded.url}/v1/track",
        auth=(source["write_key"], ""),
        json={"userId": "u1", "event": "Order Completed", "total": 300},
    )
    assert published.status_code == 200, published.text
    event_id = api.get("/api/v1/events", params={"type": "track"}).json()["data"][0]["id"]
    path = f"/ui/flows/{seeded.flow_id}"
    page = seeded.admin.get(path).text
    assert f'<option value="{event_id}">' in page  # offered under "Or a recent event"
    answer = seeded.admin.post(
        f"{path}/preview",
        data={"event_id": event_id, "csrf_token": hidden_csrf(page)},
        headers={"HX-Request": "true"},  # htmx: the result alone, swapped into the page
    )
    assert answer.status_code == 200, answer.text[-2000:]
    assert answer.text.startswith('<section id="preview-result"')
    assert "https://hooks.example.com/sales" in answer.text
    refused = seeded.admin.post(
        f"{path}/preview",
        data={"event": "{", "csrf_token": hidden_csrf(page)},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 200  # htmx swaps no 4xx: the refusal is the result
    assert 'role="alert"' in refused.text
    assert "the event is not valid JSON" in refused.text


def test_a_refused_test_under_htmx_is_the_alert_beside_the_button(shared: Seeded) -> None:
    """htmx swaps no 4xx answer: a refusal it asked for comes as a 200 fragment, or the
    person who pressed "Test connection" would see nothing happen."""
    csrf = hidden_csrf(shared.admin.get("/ui/connections").text)
    answer = shared.admin.post(
        "/ui/connections/conn_gone/test", data={"csrf_token": csrf}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    assert answer.text.startswith('<p class="error" role="alert">')
    assert "conn_gone" in answer.text


def test_a_preview_never_shows_a_secret_the_flow_uses(seeded: Seeded) -> None:
    value = "sales-api-key-never-on-a-page"
    made = admin_client(seeded.url).post(
        "/api/v1/secrets", json={"name": "sales_key", "value": value}
    )
    assert made.status_code == 201, made.text
    path = f"/ui/flows/{seeded.flow_id}"
    answer = seeded.admin.post(
        f"{path}/preview",
        data={
            "event": '{"type": "track", "data": {"total": 500}}',
            "csrf_token": hidden_csrf(seeded.admin.get(path).text),
        },
    )
    assert answer.status_code == 200, answer.text[-2000:]
    assert "https://hooks.example.com/sales" in answer.text
    assert value not in answer.text
