"""A dashboard address that does not exist is a page in the viewer's language (both
backends): it said Starlette's "Not Found" in English, under a Japanese layout."""

from __future__ import annotations

from tests.dashboard.served import served_dashboard, signed_in
from tests.support.server import ADMIN_TOKEN


def test_an_unknown_page_says_so_in_the_viewers_language(database_url: str) -> None:
    with served_dashboard(database_url) as (url, _):
        viewer = signed_in(url, ADMIN_TOKEN)
        english = viewer.get("/ui/no-such-page", headers={"Accept-Language": "en"})
        assert english.status_code == 404
        assert "There is no such page." in english.text and "Not Found" not in english.text
        japanese = viewer.get("/ui/no-such-page", headers={"Accept-Language": "ja"})
        assert japanese.status_code == 404
        assert "このページはありません。" in japanese.text and "Not Found" not in japanese.text
