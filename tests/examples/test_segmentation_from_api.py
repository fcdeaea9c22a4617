"""Playbook: segment people by company size from an enrichment API; tag the profile and
upsert the segment into Klaviyo."""

from __future__ import annotations

import pytest

from tests.examples.harness import playbook, receivers, sandboxes

pytestmark = pytest.mark.timeout(120)


async def test_company_size_decides_the_segment(database_url: str) -> None:
    async with playbook(database_url) as book:
        with sandboxes(book.clock, "klaviyo") as found, receivers("enrichment") as hooks:
            klaviyo, base = found["klaviyo"]
            enrichment = hooks["enrichment"]
            enrichment.answer(
                "/companies",
                (200, {"name": "Big Corp", "employees": 5000}),
                (200, {"name": "Small Shop", "employees": 12}),
                (404, {"error": "unknown"}),
            )
            await book.apply(
                "segmentation-from-api",
                {
                    "ENRICHMENT_URL": enrichment.url,
                    "KLAVIYO_URL": base,
                    "KLAVIYO_API_KEY": klaviyo.config.api_keys[0],
                },
            )
            for user, email in (
                ("u1", "cto@bigcorp.com"),
                ("u2", "owner@smallshop.pl"),
                ("u3", "who@nowhere.io"),
                ("u4", "me@gmail.com"),
            ):
                book.track("app", "identify", userId=user, traits={"email": email})
                await book.run()

            assert [r.path for r in enrichment.to("/companies")] == [
                "/companies?domain=bigcorp.com",
                "/companies?domain=smallshop.pl",
                "/companies?domain=nowhere.io",
            ]
            big = klaviyo.profile_by_email("cto@bigcorp.com")
            small = klaviyo.profile_by_email("owner@smallshop.pl")
            assert big is not None and big.attributes["properties"]["segment"] == "enterprise"
            assert small is not None and small.attributes["properties"]["segment"] == "smb"
            assert klaviyo.profile_by_email("who@nowhere.io") is None
            assert book.statuses("segment-by-company-size") == ["succeeded", "succeeded", "failed"]

            profiles = book.api.get("/api/v1/profiles", params={"user_id": "u1"}).json()["data"]
            traits = profiles[0]["traits"]
            assert traits["segment"]["value"] == "enterprise"
            assert traits["tags"]["value"] == ["enterprise"]
