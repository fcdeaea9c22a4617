"""Playbook: hot leads announced in the sales Slack channel, once a day per person."""

from __future__ import annotations

import pytest

from tests.examples.harness import playbook, sandboxes

pytestmark = pytest.mark.timeout(120)


async def test_sales_hears_about_hot_leads_once_a_day(database_url: str) -> None:
    async with playbook(database_url) as book:
        with sandboxes(book.clock, "slack") as found:
            slack, base = found["slack"]
            await book.apply(
                "hot-leads-to-sales",
                {
                    "SLACK_WEBHOOK_URL": base
                    + "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
                },
            )
            book.track(
                "web",
                "identify",
                userId="u1",
                traits={"name": "Ann Lee", "company": "Big Corp", "email": "ann@bigcorp.com"},
            )
            # Slack takes one message per second per webhook; leads come in seconds apart.
            for send in (
                lambda: book.track("web", userId="u1", event="Demo Requested"),
                lambda: book.track(
                    "web", userId="u1", event="Demo Requested"
                ),  # same day: suppressed
                lambda: book.track("web", userId="u2", event="Pricing Viewed"),  # not hot
                lambda: book.publish(
                    "lead.score_changed", {"score": 85, "email": "bob@example.com"}
                ),
                lambda: book.publish(
                    "lead.score_changed", {"score": 40, "email": "cy@example.com"}
                ),
            ):
                send()
                await book.run()
                book.clock.advance(seconds=2)

            texts = sorted(m.text or "" for m in slack.messages)
            assert texts == [":fire: Hot lead: ann@bigcorp.com", ":fire: Hot lead: bob@example.com"]
            blocks = " ".join(str(m.blocks) for m in slack.messages)
            assert "*Ann Lee* (Big Corp) requested a demo." in blocks
            assert "reached a score of 85" in blocks
            assert sorted(book.statuses("hot-lead-alert")) == ["skipped", "succeeded", "succeeded"]

            book.clock.advance(hours=24)
            book.track("web", userId="u1", event="Demo Requested")
            await book.run()
            assert len(slack.messages) == 3
            assert slack.violations == []
