"""What a fresh-clone review of the dashboard found, each over real HTTP on both backends."""

from __future__ import annotations

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
