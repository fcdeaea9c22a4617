"""What htmx is answered (route level, both backends): htmx swaps no 4xx answer and follows a
redirect inside its target, so a refusal it asked for is a 200 alert retargeted to the
page's ``#htmx-error`` region, and an ended session sends the browser to sign in
(``HX-Redirect``) instead of swapping the sign-in page into a fragment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.dashboard.served import hidden_csrf, served_dashboard, signed_in
from tests.support.server import ADMIN_TOKEN, admin_client

HTMX = {"HX-Request": "true"}


@dataclass
class Signed:
    url: str
    admin: httpx.Client
    reader: httpx.Client
    endpoint_id: str


@pytest.fixture
def signed(database_url: str) -> Iterator[Signed]:
    with served_dashboard(database_url) as (url, _):
        api = admin_client(url)
        api.post("/api/v1/event-types", json={"name": "receipt.validated"})
        made = api.post(
            "/api/v1/endpoints",
            json={
                "name": "Receipts",
                "url": "https://hooks.example.com/maac",
                "event_types": ["receipt.validated"],
            },
        )
        assert made.status_code == 201, made.text
        read_token = api.post("/api/v1/tokens", json={"name": "reader", "scope": "read"})
        yield Signed(
            url,
            signed_in(url, ADMIN_TOKEN),
            signed_in(url, read_token.json()["token"]),
            made.json()["id"],
        )


def test_the_layout_has_the_region_htmx_refusals_go_to(signed: Signed) -> None:
    assert 'id="htmx-error"' in signed.admin.get("/ui/webhooks").text


@pytest.mark.parametrize("action", ["test", "secret", "rotate", "pause", "resume", "delete"])
def test_a_refused_htmx_action_is_a_visible_alert(signed: Signed, action: str) -> None:
    path = f"/ui/webhooks/{signed.endpoint_id}"
    csrf = hidden_csrf(signed.reader.get(path).text)
    form = {"csrf_token": csrf, "event_type": "receipt.validated"}
    answer = signed.reader.post(f"{path}/{action}", data=form, headers=HTMX)
    assert answer.status_code == 200, answer.text[-2000:]
    assert answer.headers["hx-retarget"] == "#htmx-error"
    assert answer.headers["hx-reswap"] == "innerHTML"
    assert answer.text.startswith('<p class="error" role="alert">')
    assert "scope is read" in answer.text
    # without htmx, the same refusal is still a page with its status
    plain = signed.reader.post(f"{path}/{action}", data=form)
    assert plain.status_code == 403
    assert "<html" in plain.text


def test_a_forged_htmx_action_is_refused_visibly(signed: Signed) -> None:
    answer = signed.admin.post(
        f"/ui/webhooks/{signed.endpoint_id}/pause", data={"csrf_token": "forged"}, headers=HTMX
    )
    assert answer.status_code == 200
    assert answer.headers["hx-retarget"] == "#htmx-error"
    assert "CSRF" in answer.text


def test_a_missing_page_asked_by_htmx_is_a_visible_alert(signed: Signed) -> None:
    answer = signed.admin.get("/ui/events/evt_nope", headers=HTMX)
    assert answer.status_code == 200
    assert answer.headers["hx-retarget"] == "#htmx-error"
    assert 'role="alert"' in answer.text


def test_polling_after_sign_out_sends_the_browser_to_sign_in(signed: Signed) -> None:
    client = signed.admin
    assert client.get("/ui/events/arrivals", headers=HTMX).status_code == 200
    csrf = hidden_csrf(client.get("/ui/events").text)
    assert client.post("/ui/logout", data={"csrf_token": csrf}).status_code == 303
    answer = client.get(
        "/ui/events/arrivals",
        headers={**HTMX, "HX-Current-URL": f"{signed.url}/ui/events?type=track"},
    )
    assert answer.status_code == 200
    assert answer.headers["hx-redirect"] == "/ui/login?next=/ui/events"
    assert answer.text == ""  # nothing to swap into the box
    # an htmx action of the ended session too, and a plain page as before
    action = client.post(f"/ui/webhooks/{signed.endpoint_id}/test", headers=HTMX)
    assert action.headers["hx-redirect"] == "/ui/login?next=/ui/"
    plain = client.get("/ui/events/arrivals")
    assert plain.status_code == 303
    assert plain.headers["location"] == "/ui/login?next=/ui/events/arrivals"
