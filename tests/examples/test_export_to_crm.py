"""Playbook: transform app traits (unix seconds, dd.mm.yyyy, yes/no) and upsert contacts
into HubSpot; a value that cannot convert is reported in the run with field and value."""

from __future__ import annotations

import pytest

from renkei.sandbox import create_sandbox, serve_in_thread
from renkei.sandbox.hubspot import DEFAULT_TOKEN
from tests.examples.harness import playbook

pytestmark = pytest.mark.timeout(120)


async def test_contacts_are_converted_and_upserted(database_url: str) -> None:
    async with playbook(database_url) as book:
        hubspot = create_sandbox(
            "hubspot",
            book.clock,
            custom_properties={
                "signup_date": "date",
                "newsletter_opt_in": "bool",
                "lead_score": "number",
            },
        )
        with serve_in_thread(hubspot.app) as base:
            await book.apply("export-to-crm", {"HUBSPOT_URL": base, "HUBSPOT_TOKEN": DEFAULT_TOKEN})
            book.track(
                "app",
                "identify",
                userId="u1",
                traits={
                    "email": " Ann@Example.COM ",
                    "first_name": "Ann",
                    "last_name": "Lee",
                    "company": "Big Corp",
                    "signed_up_at": "1714557600",
                    "birthday": "02.05.1990",
                    "newsletter": "yes",
                    "score": "42",
                    "internal_notes": "do not export",
                },
            )
            book.track(
                "app",
                "identify",
                userId="u2",
                traits={
                    "email": "bob@example.com",
                    "birthday": "31.02.1990",
                    "newsletter": "maybe",
                },
            )
            await book.run()

            ann = hubspot.contact_by_email("ann@example.com")
            assert ann is not None
            properties = ann.properties
            assert properties["firstname"] == "Ann" and properties["company"] == "Big Corp"
            assert properties["signup_date"] == "2024-05-01"
            assert properties["date_of_birth"] == "1990-05-02"
            assert properties["newsletter_opt_in"] == "true"
            assert properties["lead_score"] == "42"
            assert properties["lifecyclestage"] == "lead"
            assert "internal_notes" not in properties

            bob = hubspot.contact_by_email("bob@example.com")
            assert bob is not None and "date_of_birth" not in bob.properties
            runs = book.runs("export-contacts-to-hubspot")
            assert [run["status"] for run in runs] == ["succeeded", "succeeded"]
            [with_problems] = [run for run in runs if run["steps"][0]["problems"]]
            problems = {p["field"]: p for p in with_problems["steps"][0]["problems"]}
            assert problems["date_of_birth"]["value"] == "31.02.1990"
            assert problems["newsletter_opt_in"]["value"] == "maybe"
            assert hubspot.violations == []
