"""In a real browser: a table of long ids (events, the audit log) stays inside its card
instead of running past its right edge, in English and in Japanese."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.dashboard.conftest import Served
from tests.dashboard.test_roles_browser import sign_in

pytestmark = pytest.mark.slow

OVERFLOWING_CARDS = """() => [...document.querySelectorAll('.card')]
    .filter(card => card.scrollWidth > card.clientWidth + 1)
    .map(card => `${card.scrollWidth} > ${card.clientWidth}`)"""


def test_tables_of_long_ids_stay_inside_their_cards(browser: Browser, served: Served) -> None:
    with served.api() as api:
        for number in range(3):
            published = api.post(
                "/api/v1/events",
                json={"type": "layout.checked", "data": {"n": number}},
            )
            assert published.status_code in (200, 201, 202), published.text
    for locale in ("en-US", "ja-JP"):
        context = browser.new_context(
            base_url=served.url, locale=locale, viewport={"width": 800, "height": 768}
        )
        page = context.new_page()
        sign_in(page, served.admin_token, "Overview" if locale == "en-US" else "概要")
        for path in ("/ui/events", "/ui/audit"):
            page.goto(path)
            assert page.evaluate(OVERFLOWING_CARDS) == [], (locale, path)
        context.close()
