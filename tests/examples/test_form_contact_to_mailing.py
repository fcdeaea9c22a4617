"""Playbook: website form contact → Mailchimp list member + welcome-series tag."""

from __future__ import annotations

import pytest

from tests.examples.harness import playbook, sandboxes

pytestmark = pytest.mark.timeout(120)


async def test_form_contacts_land_in_the_mailing_list(database_url: str) -> None:
    async with playbook(database_url) as book:
        with sandboxes(book.clock, "mailchimp") as found:
            mailchimp, base = found["mailchimp"]
            config = mailchimp.config
            await book.apply(
                "form-contact-to-mailing",
                {
                    "MAILCHIMP_API": f"{base}/3.0",
                    "MAILCHIMP_LIST": config.lists[0],
                    "MAILCHIMP_API_KEY": config.api_key,
                },
            )
            book.publish(
                "form.submitted",
                {
                    "email": "  Ann@Example.COM ",
                    "first_name": " Ann",
                    "last_name": "Lee",
                    "consent": "yes",
                },
            )
            # The same person again, after the first was handled (two runs started at the
            # same moment may enter in either order): re-eligibility keeps this one out.
            await book.run()
            book.publish(
                "form.submitted",
                {"email": "ann@example.com", "first_name": "Ann", "consent": "yes"},
            )
            book.publish("form.submitted", {"email": "no-consent@example.com", "consent": "no"})
            await book.run()

            member = mailchimp.member("ann@example.com")
            assert member is not None
            assert member.status == "subscribed"
            assert member.merge_fields["FNAME"] == "Ann" and member.merge_fields["LNAME"] == "Lee"
            assert "welcome-series" in member.tags
            assert mailchimp.member("no-consent@example.com") is None
            # Two runs start concurrently, so their order is not the events' order.
            assert sorted(book.statuses("form-contact-to-mailchimp")) == ["skipped", "succeeded"]
            assert mailchimp.violations == []

            [run] = [
                r for r in book.runs("form-contact-to-mailchimp") if r["status"] == "succeeded"
            ]
            upsert = run["steps"][1]
            assert upsert["input"]["headers"]["Authorization"] == "[redacted]"
            assert upsert["output"]["response"]["status"] == 200
