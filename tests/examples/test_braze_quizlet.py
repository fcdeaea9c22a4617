"""Braze/Quizlet: study mode → Liquid JSON to Braze once per user per mode; credits on a
trigger event (signed); an unsubscribe delivered to the CRM and analytics endpoints."""

from __future__ import annotations

import pytest

from tests.examples.harness import playbook, receivers, sandboxes
from tests.flows.receivers import assert_signed

pytestmark = pytest.mark.timeout(120)


async def test_quizlet_webhooks(database_url: str) -> None:
    async with playbook(database_url) as book:
        with (
            sandboxes(book.clock, "braze") as found,
            receivers("crm", "analytics", "loyalty") as hooks,
        ):
            braze, base = found["braze"]
            await book.apply(
                "braze-quizlet",
                {
                    "BRAZE_URL": base,
                    "BRAZE_API_KEY": braze.config.api_keys[0],
                    "CRM_URL": hooks["crm"].url,
                    "ANALYTICS_URL": hooks["analytics"].url,
                    "LOYALTY_URL": hooks["loyalty"].url,
                },
            )
            for mode in ("learn", "learn", "test", "flashcards", "learn"):
                book.track(
                    "app", userId="u1", event="Study Mode Selected", properties={"mode": mode}
                )
            book.track(
                "app", userId="u2", event="Study Mode Selected", properties={"mode": "learn"}
            )
            book.track(
                "app", anonymousId="anon", event="Study Mode Selected", properties={"mode": "learn"}
            )
            book.track("app", userId="u1", event="Level Completed", properties={"level": 5})
            book.track("app", userId="u1", event="Level Completed", properties={"level": 5})
            book.track("app", userId="u1", event="Level Completed", properties={"level": 2})
            book.publish("email.unsubscribed", {"email": "Ann@Example.com", "campaign_id": "cmp_9"})
            await book.run()

            u1 = braze.user("u1")
            assert u1 is not None
            assert {k: v for k, v in u1.attributes.items() if k.startswith("used_")} == {
                "used_learn": True,
                "used_test": True,
                "used_flashcards": True,
            }
            assert braze.user("u2") is not None
            assert (
                braze.track_requests <= 4
            )  # the connector may batch; never more than 4 data points
            sent = [run for run in book.runs("study-mode-to-braze") if run["status"] == "succeeded"]
            assert len(sent) == 4 and all(
                run["steps"][1]["output"]["submission_id"] for run in sent
            )
            assert book.statuses("study-mode-to-braze").count("skipped") == 2

            [credit] = hooks["loyalty"].to("/credits")
            assert credit.json() == {"user_id": "u1", "credits": 10, "reason": "Completed level 5"}
            flow_id = book.flow_id("credits-for-level-completed")
            secret = book.api.get(f"/api/v1/flows/{flow_id}/secret").json()["secret"]
            assert_signed(secret, credit)

            for name, path in (("crm", "/hooks/unsubscribe"), ("analytics", "/ingest")):
                [delivery] = hooks[name].to(path)
                body = delivery.json()
                assert (
                    body["data"]["email"] == "ann@example.com"
                    and body["data"]["channel"] == "email"
                )
                assert body["type"] == f"{name}.unsubscribe"
                endpoint = next(
                    e for e in book.api.get("/api/v1/endpoints").json()["data"] if e["name"] == name
                )
                secret = book.api.get(f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"]
                assert_signed(secret, delivery)
            [run] = book.runs("propagate-unsubscribe")
            deliveries = book.api.get(f"/api/v1/events/{run['event_id']}").json()
            assert deliveries["flow_runs"][0]["id"] == run["id"]
            assert braze.violations == []
