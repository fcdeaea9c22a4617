"""In a real browser: a read token changes nothing, a form without its CSRF token is
refused, names holding HTML stay text, the Japanese pages, and signing out."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.dashboard.conftest import Served
from tests.dashboard.receiver import Receiver

pytestmark = pytest.mark.slow

HOSTILE = '<script>alert("x")</script><b>bold</b> & <img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def endpoint_id(served: Served, receiver: Receiver) -> str:
    with served.api() as api:
        api.post("/api/v1/event-types", json={"name": "message.first_open"})
        made = api.post(
            "/api/v1/endpoints",
            json={
                "name": HOSTILE,
                "description": HOSTILE,
                "url": receiver.url,
                "event_types": ["message.first_open"],
            },
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])


def _context(browser: Browser, served: Served, **options: object) -> BrowserContext:
    return browser.new_context(base_url=served.url, **options)  # type: ignore[arg-type]


@pytest.fixture
def context(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    context = _context(browser, served, locale="en-US")
    yield context
    context.close()


def sign_in(page: Page, token: str, heading: str = "Overview") -> None:
    page.goto("/ui/login")
    page.get_by_label(re.compile("API token|APIトークン")).fill(token)
    page.get_by_role("button", name=re.compile("Sign in|サインイン")).click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible()


def test_a_read_token_sees_everything_and_changes_nothing(
    context: BrowserContext, served: Served, endpoint_id: str
) -> None:
    page = context.new_page()
    sign_in(page, served.read_token)
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("button", name="Create endpoint")).to_be_disabled()
    page.goto(f"/ui/webhooks/{endpoint_id}")
    for name in (
        "Reveal secret",
        "Copy",
        "Rotate secret",
        "Send test",
        "Pause",
        "Delete",
        "Recover",
    ):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()

    # The server refuses anyway: a forged POST with the session's own CSRF token.
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    for action in ("pause", "delete", "rotate", "secret"):
        answer = page.request.post(
            f"/ui/webhooks/{endpoint_id}/{action}", form={"csrf_token": csrf or ""}
        )
        assert answer.status == 403, (action, answer.status)
        assert "scope is read" in answer.text()
    with served.api() as api:
        assert api.get(f"/api/v1/endpoints/{endpoint_id}").json()["disabled"] is False


def test_a_read_tokens_forged_htmx_send_test_shows_the_refusal(
    context: BrowserContext, served: Served, endpoint_id: str
) -> None:
    """htmx swaps no 4xx answer: without the shared alert the refusal looked like nothing."""
    page = context.new_page()
    sign_in(page, served.read_token)
    page.goto(f"/ui/webhooks/{endpoint_id}")
    send = page.get_by_role("button", name="Send test", exact=True)
    send.evaluate("button => button.removeAttribute('disabled')")
    send.click()
    expect(page.get_by_role("alert")).to_contain_text("scope is read")


def test_polling_after_sign_out_goes_to_the_sign_in_page(
    context: BrowserContext, served: Served
) -> None:
    page = context.new_page()
    sign_in(page, served.admin_token)
    page.goto("/ui/events")
    expect(page.get_by_role("region", name="New arrivals")).to_be_attached()
    other = context.new_page()  # the same session, signed out in another tab
    other.goto("/ui/events")
    other.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/events"))
    assert page.locator("#arrivals").count() == 0


def test_a_write_token_may_not_see_the_secret(
    context: BrowserContext, served: Served, endpoint_id: str
) -> None:
    page = context.new_page()
    sign_in(page, served.write_token)
    page.goto(f"/ui/webhooks/{endpoint_id}")
    expect(page.get_by_role("button", name="Pause")).to_be_enabled()
    expect(page.get_by_role("button", name="Reveal secret")).to_be_disabled()
    expect(page.get_by_role("button", name="Rotate secret")).to_be_disabled()


def test_a_form_without_its_csrf_token_is_refused(
    context: BrowserContext, served: Served, endpoint_id: str
) -> None:
    page = context.new_page()
    sign_in(page, served.admin_token)
    page.goto(f"/ui/webhooks/{endpoint_id}")
    page.locator('form[action$="/pause"] input[name="csrf_token"]').evaluate(
        "input => input.remove()"
    )
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("alert")).to_contain_text("CSRF")
    with served.api() as api:
        assert api.get(f"/api/v1/endpoints/{endpoint_id}").json()["disabled"] is False
    # and from another site's form: the cookie is SameSite=Strict, the token absent
    answer = httpx.post(f"{served.url}/ui/webhooks/{endpoint_id}/pause", data={})
    assert answer.status_code == 403


def test_names_holding_html_are_shown_as_text(
    context: BrowserContext, served: Served, endpoint_id: str
) -> None:
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, served.admin_token)
    page.goto("/ui/webhooks")
    expect(page.get_by_role("link", name=HOSTILE)).to_be_visible()
    page.goto(f"/ui/webhooks/{endpoint_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(HOSTILE)
    assert page.locator("main b").count() == 0
    assert page.locator("main img").count() == 0
    assert dialogs == []


def test_the_japanese_pages(browser: Browser, served: Served, endpoint_id: str) -> None:
    context = _context(
        browser, served, locale="ja-JP", extra_http_headers={"Accept-Language": "ja"}
    )
    try:
        page = context.new_page()
        page.goto("/ui/login")
        expect(page.get_by_role("heading", name="サインイン")).to_be_visible()
        sign_in(page, served.admin_token, heading="概要")
        nav = page.get_by_role("navigation")
        for label in ("概要", "Webhook", "イベントタイプ", "フロー", "監査ログ"):
            expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
        nav.get_by_role("link", name="Webhook", exact=True).click()
        expect(page.get_by_role("button", name="エンドポイントを作成")).to_be_visible()
        page.goto(f"/ui/webhooks/{endpoint_id}")
        for name in (
            "シークレットを表示",
            "シークレットを変更",
            "テストを送信",
            "一時停止",
            "削除",
        ):
            expect(page.get_by_role("button", name=name)).to_be_visible()
        expect(page.get_by_label("イベントタイプ")).to_be_visible()
    finally:
        context.close()


def test_sign_out(context: BrowserContext, served: Served) -> None:
    page = context.new_page()
    sign_in(page, served.admin_token)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/ui/webhooks")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/webhooks"))
