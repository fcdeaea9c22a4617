"""A flow's page says in words when a person may enter it again (both backends): the
re-eligibility rule was shown as raw JSON (``"always"``, ``{"mode": "once_per", ...}``)."""

from __future__ import annotations

import html
import re

import pytest

from tests.dashboard.served import served_dashboard, signed_in
from tests.support.server import ADMIN_TOKEN, admin_client

TRIGGER = {"event_types": ["track"]}
STEPS = [{"id": "send", "action": {"url": "https://hooks.example.com/x"}}]


def _shown_rule(page: str) -> str:
    found = re.search(r"Re-eligibility</dt>\s*<dd>(.*?)</dd>", page, re.DOTALL)
    assert found is not None, page
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (None, "always"),
        ("once", "once"),
        ({"mode": "once_per", "hours": 24}, "once per 24 hours"),
        ({"mode": "once", "key": "{{ event.user_id }}"}, "once per {{ event.user_id }}"),
    ],
)
def test_the_re_eligibility_rule_is_words(database_url: str, rule: object, words: str) -> None:
    with served_dashboard(database_url) as (url, _):
        flow: dict[str, object] = {"name": "f", "trigger": TRIGGER, "steps": STEPS}
        if rule is not None:
            flow["reeligibility"] = rule
        created = admin_client(url).post("/api/v1/flows", json=flow)
        assert created.status_code == 201, created.text
        page = signed_in(url, ADMIN_TOKEN).get(f"/ui/flows/{created.json()['id']}").text
        assert _shown_rule(page) == words


def test_the_diagrams_labels_are_in_the_viewers_language(database_url: str) -> None:
    """The boxes' labels (event types, filter, endpoint, format) were English on Japanese
    pages."""
    flow = {
        "name": "labels",
        "trigger": {"event_types": ["track"], "names": ["Order Completed"], "filter": {"n": 1}},
        "steps": [
            {"id": "look", "template": {"format": "json", "source": "{}"}},
            {"id": "tell", "action": {"endpoint": "crm", "event_type": "order.paid"}},
        ],
    }
    with served_dashboard(database_url) as (url, _):
        created = admin_client(url).post("/api/v1/flows", json=flow)
        assert created.status_code == 201, created.text
        viewer = signed_in(url, ADMIN_TOKEN)
        path = f"/ui/flows/{created.json()['id']}"
        english = html.unescape(viewer.get(path, headers={"Accept-Language": "en"}).text)
        for line in (
            "Event types: track",
            "Event names: Order Completed",
            'Condition: {"n": 1}',
            "Format: json",
            "Endpoint: crm",
            "Event type: order.paid",
        ):
            assert line in english
        japanese = html.unescape(viewer.get(path, headers={"Accept-Language": "ja"}).text)
        for line in (
            "イベントタイプ: track",
            "イベント名: Order Completed",
            '条件: {"n": 1}',
            "形式: json",
            "エンドポイント: crm",
            "イベントタイプ: order.paid",
        ):
            assert line in japanese
        assert "event types:" not in japanese and "format:" not in japanese
