"""Playbook: orders to GA4 and Amplitude through their connectors; a OneSignal push an
hour after a checkout nobody finished, and none when the order came in."""

from __future__ import annotations

import pytest

from tests.examples.harness import playbook, sandboxes

pytestmark = pytest.mark.timeout(120)


async def test_orders_reach_ga4_and_amplitude_and_abandoned_carts_get_a_push(
    database_url: str,
) -> None:
    async with playbook(database_url) as book:
        with sandboxes(book.clock, "ga4", "amplitude", "onesignal") as found:
            ga4, ga4_url = found["ga4"]
            amplitude, amplitude_url = found["amplitude"]
            onesignal, onesignal_url = found["onesignal"]
            await book.apply(
                "shop-analytics-and-push",
                {
                    "GA4_URL": ga4_url,
                    "GA4_MEASUREMENT_ID": ga4.config.measurement_id,
                    "GA4_API_SECRET": ga4.config.api_secrets[0],
                    "AMPLITUDE_URL": amplitude_url,
                    "AMPLITUDE_API_KEY": amplitude.config.api_keys[0],
                    "ONESIGNAL_URL": onesignal_url,
                    "ONESIGNAL_APP_ID": onesignal.config.app_id,
                    "ONESIGNAL_API_KEY": onesignal.config.api_keys[0],
                },
            )
            for shopper in ("shopper-ann", "shopper-bob"):
                onesignal.add_user(shopper)  # registered by the shop's app SDK
            cart = {"checkout_id": "c-1", "products": [{"sku": "tea"}, {"sku": "cup"}]}
            book.track("shop", userId="shopper-ann", event="Checkout Started", properties=cart)
            book.track(
                "shop",
                userId="shopper-bob",
                event="Checkout Started",
                properties={**cart, "checkout_id": "c-2"},
            )
            await book.run()
            book.clock.advance(minutes=20)
            order = {
                "order_id": "o-9",
                "revenue": 42.5,
                "currency": "JPY",
                "products": [{"sku": "tea"}, {"sku": "cup"}],
            }
            book.track(
                "shop",
                userId="shopper-bob",
                event="Order Completed",
                properties=order,
                context={"ga_client_id": "1197596843.1673515812"},
            )
            await book.run()
            book.clock.advance(seconds=2)  # the connectors' batching window
            await book.run()

            [purchase] = ga4.events
            assert (purchase["name"], purchase["client_id"], purchase["user_id"]) == (
                "purchase",
                "1197596843.1673515812",
                "shopper-bob",
            )
            assert purchase["params"] == {"transaction_id": "o-9", "value": 42.5, "currency": "JPY"}
            bob = amplitude.user("shopper-bob")
            assert bob is not None
            [completed] = bob.events
            assert completed["event_type"] == "Order Completed" and completed["revenue"] == 42.5
            assert completed["event_properties"] == {"order_id": "o-9", "items": 2}
            assert onesignal.notifications == []  # nobody waited an hour yet

            book.clock.advance(minutes=41)
            await book.run()
            book.clock.advance(seconds=2)
            await book.run()
            [push] = onesignal.notifications
            assert push.recipients == ("shopper-ann",)  # Bob ordered
            assert push.body["contents"] == {"en": "Your 2 items are waiting in your cart"}
            assert push.body["data"] == {"checkout_id": "c-1"}
            assert book.statuses("abandoned-cart-push") == ["succeeded", "stopped"]
            for sandbox in (ga4, amplitude, onesignal):
                assert sandbox.violations == []
            assert ga4.dropped == []
