"""What a fresh-clone review of the dashboard found, each over real HTTP on both backends."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from tests.dashboard.served import served_dashboard, signed_in
from tests.support.server import ADMIN_TOKEN, admin_client


def test_recovers_since_is_a_moment_to_start_from_in_japanese(database_url: str) -> None:
    """Recover's "Since" read 登録日時 ("registered at"), the profile page's meaning."""
    with served_dashboard(database_url) as (url, _):
        made = admin_client(url).post(
            "/api/v1/endpoints", json={"name": "crm", "url": "https://crm.example.com/hook"}
        )
        viewer = signed_in(url, ADMIN_TOKEN)
        page = f"/ui/webhooks/{made.json()['id']}"
        japanese = viewer.get(page, headers={"Accept-Language": "ja"}).text
        assert '<label for="recover-since">この日時以降</label>' in japanese
        english = viewer.get(page, headers={"Accept-Language": "en"}).text
        assert '<label for="recover-since">Since</label>' in english


def test_the_events_filter_takes_the_viewers_time_like_recover(database_url: str) -> None:
    """The filter was "From (UTC)" and read every time as UTC, while the page shows times in
    the viewer's zone and dashboard.js sends a zoned time as UTC ISO (as for Recover)."""
    with served_dashboard(database_url) as (url, hub):
        admin = admin_client(url)
        admin.post("/api/v1/event-types", json={"name": "order.paid"})
        sent = admin.post("/api/v1/events", json={"type": "order.paid", "data": {}})
        assert sent.status_code in (200, 201, 202), sent.text
        tokyo = timezone(timedelta(hours=9))
        an_hour_ago = (hub.clock.now() - timedelta(hours=1)).astimezone(tokyo)
        viewer = signed_in(url, ADMIN_TOKEN)
        page = viewer.get("/ui/events", params={"since": an_hour_ago.isoformat()}).text
        assert "No event matches." not in page  # nine hours later, read as UTC: nothing
        utc_wall = an_hour_ago.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert f'value="{utc_wall}" data-local-time' in page
        assert "(UTC)" not in page and "data-time-zone" in page


def test_the_missing_page_highlights_no_section(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        viewer = signed_in(url, ADMIN_TOKEN)
        missing = viewer.get("/ui/no-such-page")
        assert missing.status_code == 404 and 'aria-current="page"' not in missing.text
        overview = viewer.get("/ui/")
        assert '<a href="/ui/" aria-current="page">' in overview.text


def test_an_endpoint_without_deliveries_says_so_instead_of_an_empty_chart(
    database_url: str,
) -> None:
    with served_dashboard(database_url) as (url, _):
        made = admin_client(url).post(
            "/api/v1/endpoints", json={"name": "crm", "url": "https://crm.example.com/hook"}
        )
        viewer = signed_in(url, ADMIN_TOKEN)
        page = f"/ui/webhooks/{made.json()['id']}"
        english = viewer.get(page, headers={"Accept-Language": "en"}).text
        assert '<p class="muted chart-empty">No delivery in the last 24 hours.</p>' in english
        assert 'class="outcomes"' not in english
        japanese = viewer.get(page, headers={"Accept-Language": "ja"}).text
        assert '<p class="muted chart-empty">過去24時間に配信はありません。</p>' in japanese


def test_the_audit_logs_details_are_a_key_value_list_escaped(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        admin_client(url).post(
            "/api/v1/endpoints",
            json={"name": "<b>crm</b>", "url": "https://crm.example.com/hook"},
        )
        audit = signed_in(url, ADMIN_TOKEN).get("/ui/audit").text
        assert '<ul class="plain audit-details">' in audit
        assert '<li><span class="muted">name:</span> &lt;b&gt;crm&lt;/b&gt;</li>' in audit
        assert "<b>crm</b>" not in audit and '{"name"' not in audit
