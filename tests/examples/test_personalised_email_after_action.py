"""Playbook: a personalised email (Klaviyo event) an hour after an abandoned checkout."""

from __future__ import annotations

import pytest

from tests.examples.harness import playbook, sandboxes

pytestmark = pytest.mark.timeout(120)


async def test_checkout_reminder_reaches_klaviyo_after_an_hour(database_url: str) -> None:
    async with playbook(database_url) as book:
        with sandboxes(book.clock, "klaviyo") as found:
            klaviyo, base = found["klaviyo"]
            await book.apply(
                "personalised-email-after-action",
                {"KLAVIYO_URL": base, "KLAVIYO_API_KEY": klaviyo.config.api_keys[0]},
            )
            book.track(
                "web",
                "identify",
                userId="u1",
                traits={"email": "ann@example.com", "first_name": "Ann"},
            )
            cart = {
                "checkout_id": "c-77",
                "value": 59.5,
                "products": [{"name": "Tea"}, {"name": "Cup"}],
            }
            book.track("web", userId="u1", event="Checkout Started", properties=cart)
            book.track("web", userId="u2", event="Checkout Started", properties={"value": 0})
            await book.run()
            assert klaviyo.events == [] or len(klaviyo.state.events) == 0
            assert book.statuses("checkout-reminder-email") == ["waiting"]

            book.clock.advance(hours=1)
            await book.run()
            [event] = klaviyo.state.events
            assert event.properties["greeting"] == "Hi Ann, your cart is waiting"
            assert event.properties["items"] == ["Tea", "Cup"]
            assert event.properties["checkout_url"].endswith("/checkout/c-77")
            profile = klaviyo.profile_by_email("ann@example.com")
            assert profile is not None
            assert book.statuses("checkout-reminder-email") == ["succeeded"]
            assert klaviyo.violations == []
