"""Ad conversions: a purchase event reaches Google Ads, Meta and LinkedIn once, with the
email hashed as each one matches it; a newsletter sign-up joins a Customer Match list."""

from __future__ import annotations

import pytest

from renkei.sandbox.google_ads import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_CUSTOMER_ID,
    DEFAULT_DEVELOPER_TOKEN,
    DEFAULT_REFRESH_TOKEN,
)
from tests.examples.harness import playbook, sandboxes

pytestmark = pytest.mark.timeout(120)

# printf %s VALUE | sha256sum: Google hashes janedoe@gmail.com (gmail dots dropped), Meta
# and LinkedIn jane.doe@gmail.com.
GOOGLE_JANE = "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
JANE = "831f6494ad6be4fcb3a724c3d5fef22d3ceffa3c62ef3a7984e45a0ea177f982"


async def test_a_purchase_becomes_three_ad_conversions(database_url: str) -> None:
    async with playbook(database_url) as book:
        with sandboxes(book.clock, "google_ads", "meta_capi", "linkedin_capi") as found:
            google, google_url = found["google_ads"]
            meta, meta_url = found["meta_capi"]
            linkedin, linkedin_url = found["linkedin_capi"]
            await book.apply(
                "ad-conversions",
                {
                    "GOOGLE_ADS_URL": google_url,
                    "GOOGLE_ACCOUNTS_URL": google_url,
                    "GOOGLE_ADS_CUSTOMER_ID": DEFAULT_CUSTOMER_ID,
                    "GOOGLE_ADS_DEVELOPER_TOKEN": DEFAULT_DEVELOPER_TOKEN,
                    "GOOGLE_ADS_CLIENT_ID": DEFAULT_CLIENT_ID,
                    "GOOGLE_ADS_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
                    "GOOGLE_ADS_REFRESH_TOKEN": DEFAULT_REFRESH_TOKEN,
                    "GOOGLE_ADS_CONVERSION_ACTION": google.config.conversion_actions[0],
                    "GOOGLE_ADS_USER_LIST": google.config.user_lists[0],
                    "META_URL": meta_url,
                    "META_PIXEL_ID": meta.config.pixel_ids[0],
                    "META_ACCESS_TOKEN": meta.config.access_tokens[0],
                    "LINKEDIN_URL": f"{linkedin_url}/rest",
                    "LINKEDIN_AD_ACCOUNT": linkedin.config.ad_accounts[0],
                    "LINKEDIN_ACCESS_TOKEN": linkedin.config.access_tokens[0],
                    "LINKEDIN_CONVERSION_RULE": linkedin.config.conversion_rules[0],
                },
            )
            order = {
                "order_id": "ord-1001",
                "total": 129.9,
                "currency": "EUR",
                "email": " Jane.Doe@GMail.com",
                "gclid": "Cj0KCQiAsandboxclick",
            }
            book.track("shop", userId="u1", event="Order Completed", properties=order)
            book.track("shop", userId="u1", event="Order Completed", properties=order)  # resent
            no_click = {**order, "order_id": "ord-1002", "gclid": None}
            no_click.pop("gclid")
            book.track("shop", userId="u2", event="Order Completed", properties=no_click)
            book.track(
                "shop",
                userId="u3",
                event="Newsletter Subscribed",
                properties={"email": "Jane.Doe@gmail.com"},
            )
            await book.run()
            assert google.conversions == [] and meta.events == []  # batched, not yet due
            book.clock.advance(2.0)  # the batch wait: one call per connection and operation
            await book.run()

            [conversion] = google.conversions
            assert conversion["gclid"] == "Cj0KCQiAsandboxclick"
            assert conversion["orderId"] == "ord-1001"
            assert conversion["conversionValue"] == 129.9
            assert conversion["userIdentifiers"] == [{"hashedEmail": GOOGLE_JANE}]
            assert google.list_members("2001") == {GOOGLE_JANE}

            assert sorted(e["event_id"] for e in meta.events) == ["ord-1001", "ord-1002"]
            assert meta.events[0]["user_data"]["em"] == [JANE]
            assert meta.events[0]["custom_data"]["value"] == 129.9
            assert meta.event_requests == 1  # both purchases in one request

            assert sorted(e["eventId"] for e in linkedin.events) == ["ord-1001", "ord-1002"]
            ids = linkedin.events[0]["user"]["userIds"]
            assert ids == [{"idType": "SHA256_EMAIL", "idValue": JANE}]
            assert linkedin.event_requests == 1  # one BATCH_CREATE

            for sandbox in (google, meta, linkedin):
                assert sandbox.violations == []
            assert book.statuses("purchase-to-google-ads").count("succeeded") == 1
