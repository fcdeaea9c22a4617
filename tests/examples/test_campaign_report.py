"""Playbook: every Monday 08:00 UTC, last week's campaign figures posted to Slack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.examples.harness import playbook, receivers, sandboxes

pytestmark = pytest.mark.timeout(120)


async def test_weekly_report_is_posted_on_schedule(database_url: str) -> None:
    async with playbook(database_url) as book:
        book.clock.set(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))  # a Sunday
        with sandboxes(book.clock, "slack") as found, receivers("analytics") as hooks:
            slack, base = found["slack"]
            analytics = hooks["analytics"]
            analytics.answer(
                "/reports/campaigns",
                (
                    200,
                    {
                        "campaigns": [
                            {
                                "name": "Spring sale",
                                "impressions": 20000,
                                "clicks": 500,
                                "conversions": 40,
                                "spend": 800,
                            },
                            {
                                "name": "Newsletter",
                                "impressions": 5000,
                                "clicks": 250,
                                "conversions": 10,
                                "spend": 50,
                            },
                        ]
                    },
                ),
                (200, {"campaigns": []}),
            )
            await book.apply(
                "campaign-report",
                {
                    "ANALYTICS_URL": analytics.url,
                    "ANALYTICS_TOKEN": "an-analytics-token-123",
                    "SLACK_WEBHOOK_URL": base
                    + "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
                },
            )
            assert await book.tick() == 0
            book.clock.set(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))  # Monday 08:00
            assert await book.tick() == 1
            assert await book.tick() == 0
            await book.run()

            [request] = analytics.to("/reports/campaigns")
            assert request.headers["authorization"] == "Bearer an-analytics-token-123"
            assert "from=2026-02-23T08" in request.path and "to=2026-03-02T08" in request.path
            [message] = slack.messages
            assert "2026-02-23 → 2026-03-02" in message.text
            assert (
                "• Spring sale: 20000 impressions, CTR 2.5%, 40 conversions, 20.0 per conversion"
                in message.text
            )
            assert (
                "• Newsletter: 5000 impressions, CTR 5.0%, 10 conversions, 5.0 per conversion"
                in message.text
            )

            book.clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))
            assert await book.tick() == 1
            await book.run()
            assert len(slack.messages) == 1  # a week without data posts nothing
            assert book.statuses("weekly-campaign-report") == ["succeeded", "stopped"]
            [run, _] = book.runs("weekly-campaign-report")
            assert run["steps"][0]["input"]["headers"]["Authorization"] == "[redacted]"
