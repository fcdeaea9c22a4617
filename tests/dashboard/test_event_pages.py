"""The pages of event types, events (with the timeline), sources, profiles and the audit log,
over real HTTP on both backends: what each shows, what a read token may not do, escaping."""

from __future__ import annotations

import httpx
import pytest

from renkei.dashboard.i18n import Catalogs
from renkei.dashboard.pages import event_types as event_types_page
from renkei.dashboard.pages import events as events_page
from renkei.store.tables.flows import RUN_STATUSES
from tests.dashboard.served import hidden_csrf, served_dashboard, signed_in
from tests.support.server import ADMIN_TOKEN, admin_client

HOSTILE = "<script>alert('owned')</script><b>bold</b>"


def _reader(url: str, admin: httpx.Client) -> httpx.Client:
    issued = admin.post("/api/v1/tokens", json={"name": "reader", "scope": "read"})
    return signed_in(url, issued.json()["token"])


def _publish(admin: httpx.Client, event_type: str, data: dict[str, object]) -> str:
    sent = admin.post("/api/v1/events", json={"type": event_type, "data": data})
    assert sent.status_code in (200, 201, 202), sent.text
    return str(sent.json()["id"])


def test_event_types_are_listed_created_and_edited_by_writers_only(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        admin = admin_client(url)
        client = signed_in(url, ADMIN_TOKEN)
        page = client.get("/ui/event-types")
        assert "Create event type" in page.text
        # Renkei's own types are listed, read-only: no edit link, and editing one is refused.
        assert "flow.run.failed" in page.text and "(published by Renkei)" in page.text
        assert 'href="/ui/event-types/flow.run.failed"' not in page.text
        created = client.post(
            "/ui/event-types",
            data={
                "csrf_token": hidden_csrf(page.text),
                "name": "order.completed",
                "description": "An order was paid",
                "schema": '{"type": "object", "required": ["order_id"]}',
                "example": '{"order_id": "o_1"}',
            },
        )
        assert created.status_code == 303
        listed = client.get(created.headers["location"])
        assert "Event type created." in listed.text
        assert "An order was paid" in listed.text
        assert "&#34;required&#34;" in listed.text  # the schema, shown as escaped text

        edit = client.get("/ui/event-types/order.completed")
        assert 'value="order.completed"' in edit.text
        wrong = client.post(
            "/ui/event-types/order.completed",
            data={"csrf_token": hidden_csrf(edit.text), "description": "x", "schema": "{nope"},
        )
        assert wrong.status_code == 422
        assert "the schema is not valid JSON" in wrong.text
        saved = client.post(
            "/ui/event-types/order.completed",
            data={
                "csrf_token": hidden_csrf(edit.text),
                "description": "Paid orders",
                "schema": '{"type": "object"}',
                "example": '{"order_id": "o_2"}',
            },
        )
        assert saved.status_code == 303
        assert admin.get("/api/v1/event-types/order.completed").json()["description"] == (
            "Paid orders"
        )

        forged = client.post("/ui/event-types", data={"name": "forged.type"})
        assert forged.status_code == 403  # no CSRF token
        reader = _reader(url, admin)
        seen = reader.get("/ui/event-types")
        assert "Paid orders" in seen.text
        assert "Create event type" not in seen.text
        refused = reader.post(
            "/ui/event-types",
            data={"csrf_token": hidden_csrf(seen.text), "name": "sneaky.type"},
        )
        assert refused.status_code == 403
        assert admin.get("/api/v1/event-types/sneaky.type").status_code == 404


def test_the_event_log_filters_pages_and_polls_new_arrivals(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_page, "PAGE_SIZE", 2)
    with served_dashboard(database_url) as (url, _):
        admin = admin_client(url)
        for name in ("cart.viewed", "order.completed"):
            admin.post("/api/v1/event-types", json={"name": name})
        ids = [_publish(admin, "cart.viewed", {"n": n}) for n in range(3)]
        ids.append(_publish(admin, "order.completed", {"n": 9}))
        client = signed_in(url, ADMIN_TOKEN)

        first = client.get("/ui/events")
        assert ids[3] in first.text and ids[2] in first.text and ids[1] not in first.text
        assert 'hx-trigger="every 5s"' in first.text
        older = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
        second = client.get(older.replace("&amp;", "&"))
        assert ids[1] in second.text and ids[0] in second.text and ids[3] not in second.text
        assert "hx-get" not in second.text  # only the first page watches for arrivals

        only = client.get("/ui/events", params={"type": "order.completed"})
        assert ids[3] in only.text and ids[2] not in only.text
        bad = client.get("/ui/events", params={"since": "yesterday"})
        assert bad.status_code == 422

        quiet = client.get("/ui/events/arrivals", params={"newest": ids[3]})
        assert quiet.status_code == 200
        assert "new events" not in quiet.text
        fresh = _publish(admin, "order.completed", {"n": 10})
        arrived = client.get("/ui/events/arrivals", params={"newest": ids[3]})
        assert "1 new events since this page opened" in arrived.text
        assert fresh in arrived.text and f'href="/ui/events/{ids[3]}"' not in arrived.text
        assert f"newest={ids[3]}" in arrived.text  # it keeps polling from the same place


def test_an_event_page_shows_its_payload_as_text_and_its_deliveries(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        admin = admin_client(url)
        admin.post("/api/v1/event-types", json={"name": "form.submitted"})
        made = admin.post(
            "/api/v1/endpoints",
            json={"name": "CRM <intake>", "url": "https://crm.example.com/hook"},
        )
        assert made.status_code == 201, made.text
        event_id = _publish(admin, "form.submitted", {"comment": HOSTILE})
        client = signed_in(url, ADMIN_TOKEN)
        page = client.get(f"/ui/events/{event_id}")
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<b>bold" not in page.text
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in (
            page.text
        )
        assert "Delivery" in page.text
        assert "CRM &lt;intake&gt;" in page.text
        assert f'href="/ui/webhooks/{made.json()["id"]}"' in page.text
        listed = client.get("/ui/events")
        assert "<script>alert" not in listed.text
        assert client.get("/ui/events/evt_nothing").status_code == 404


def test_sources_show_snippets_reveal_the_key_to_admins_and_replay_requests(
    database_url: str,
) -> None:
    with served_dashboard(database_url) as (url, _):
        admin = admin_client(url)
        tracking = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "web"})
        assert tracking.status_code == 201, tracking.text
        write_key = tracking.json()["write_key"]
        hook = admin.post(
            "/api/v1/sources",
            json={"kind": "webhook", "name": "surveycake", "verification": {"scheme": "none"}},
        )
        assert hook.status_code == 201, hook.text
        hook_id = hook.json()["id"]
        received = httpx.post(f"{url}/hooks/{hook_id}", json={"type": "survey.done", "n": 1})
        assert received.status_code < 300, received.text

        client = signed_in(url, ADMIN_TOKEN)
        listed = client.get("/ui/sources")
        assert "web" in listed.text and f"{url}/hooks/{hook_id}" in listed.text
        assert write_key not in listed.text
        page = client.get(f"/ui/sources/{tracking.json()['id']}")
        assert write_key not in page.text
        assert f"host=&#34;{url}&#34;" in page.text  # analytics-python, at this server
        assert f"dataPlaneUrl: &#34;{url}&#34;" in page.text  # rudder-sdk-node
        assert "YOUR_WRITE_KEY" in page.text
        assert "not checked" in page.text  # no tracking plan mode (issue 20)
        admin.patch(f"/api/v1/sources/{tracking.json()['id']}", json={"plan_mode": "block"})
        assert "<code>block</code>" in client.get(f"/ui/sources/{tracking.json()['id']}").text
        revealed = client.post(
            f"/ui/sources/{tracking.json()['id']}/secret",
            data={"csrf_token": hidden_csrf(page.text)},
        )
        assert revealed.status_code == 200
        assert f"Client(&#34;{write_key}&#34;" in revealed.text
        audit = admin.get("/api/v1/audit", params={"action": "source.secret_revealed"}).json()
        assert audit["data"][0]["details"]["via"] == "dashboard"

        hook_page = client.get(f"/ui/sources/{hook_id}")
        assert f"{url}/hooks/{hook_id}" in hook_page.text
        assert "POST" in hook_page.text and "Replay" in hook_page.text
        request_id = hook_page.text.split(f"/ui/sources/{hook_id}/requests/")[1].split("/")[0]
        replayed = client.post(
            f"/ui/sources/{hook_id}/requests/{request_id}/replay",
            data={"csrf_token": hidden_csrf(hook_page.text)},
        )
        assert replayed.status_code == 200
        assert "Replayed: 1 events mapped" in replayed.text

        reader = _reader(url, admin)
        seen = reader.get(f"/ui/sources/{tracking.json()['id']}")
        assert "Reveal write key" in seen.text and " disabled " in seen.text
        refused = reader.post(
            f"/ui/sources/{tracking.json()['id']}/secret",
            data={"csrf_token": hidden_csrf(seen.text)},
        )
        assert refused.status_code == 403
        assert write_key not in refused.text
        hook_seen = reader.get(f"/ui/sources/{hook_id}")
        no_replay = reader.post(
            f"/ui/sources/{hook_id}/requests/{request_id}/replay",
            data={"csrf_token": hidden_csrf(hook_seen.text)},
        )
        assert no_replay.status_code == 403


def test_profiles_are_found_by_email_or_user_id_with_traits_and_events(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        admin = admin_client(url)
        write_key = admin.post("/api/v1/sources", json={"kind": "tracking", "name": "app"}).json()[
            "write_key"
        ]
        sent = httpx.post(
            f"{url}/v1/identify",
            auth=(write_key, ""),
            json={"userId": "ada-1", "traits": {"email": "Ada@Example.com", "plan": HOSTILE}},
        )
        assert sent.status_code == 200, sent.text
        client = signed_in(url, ADMIN_TOKEN)
        everyone = client.get("/ui/profiles")
        assert "ada@example.com" in everyone.text
        by_email = client.get("/ui/profiles", params={"q": "ada@example.com"})
        profile_id = by_email.text.split('href="/ui/profiles/')[1].split('"')[0]
        assert profile_id in client.get("/ui/profiles", params={"q": "ada-1"}).text
        assert "No profile matches." in client.get("/ui/profiles", params={"q": "bob"}).text
        page = client.get(f"/ui/profiles/{profile_id}")
        event_id = page.text.split('href="/ui/events/')[1].split('"')[0]
        event_page = client.get(f"/ui/events/{event_id}")
        assert ">app</a>" in event_page.text  # the event names its source
        assert "user_id" in page.text and "ada-1" in page.text
        assert "plan" in page.text and "&lt;script&gt;" in page.text
        assert "<script>alert" not in page.text
        assert "identify" in page.text  # the recent event
        assert "<time datetime=" in page.text  # when each trait last changed


def test_the_audit_log_is_filtered_by_action_and_kept_from_read_tokens(
    database_url: str,
) -> None:
    with served_dashboard(database_url) as (url, _):
        admin = admin_client(url)
        admin.post("/api/v1/event-types", json={"name": "a.b"})
        client = signed_in(url, ADMIN_TOKEN)
        page = client.get("/ui/audit")
        assert "event_type.created" in page.text and "dashboard.signed_in" in page.text
        narrowed = client.get("/ui/audit", params={"action": "event_type.created"})
        assert "event_type.created" in narrowed.text
        assert "dashboard.signed_in" not in narrowed.text
        reader = _reader(url, admin)
        assert reader.get("/ui/audit").status_code == 403


def test_the_messages_kept_in_tables_are_in_every_catalog() -> None:
    """What test_catalogs cannot extract: the notices and the statuses the pages translate."""
    wanted = set(event_types_page.NOTICES.values()) | set(RUN_STATUSES)
    wanted |= {"tracking", "webhook", "enabled", "disabled"}
    for language, catalog in Catalogs().messages.items():
        if language != "en":
            assert not sorted(wanted - set(catalog)), language
