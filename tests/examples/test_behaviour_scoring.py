"""Playbook: points for behaviour kept on the profile, each change published as an event."""

from __future__ import annotations

import pytest
from segment.analytics import Client as SegmentClient

from tests.examples.harness import playbook

pytestmark = pytest.mark.timeout(120)

ACTIONS = (
    "Pricing Viewed",
    "Webinar Attended",
    "Email Clicked",
    "Logged In",  # not a scored action
    "Whitepaper Downloaded",
)


async def test_actions_add_up_to_a_score(database_url: str) -> None:
    async with playbook(database_url) as book:
        await book.apply("behaviour-scoring", {})
        for action in (
            "Pricing Viewed",
            "Webinar Attended",
            "Email Clicked",
            "Logged In",
            "Whitepaper Downloaded",
        ):
            book.track("web", userId="u1", event=action)
            await book.run()  # one at a time: the score is read, then written
        book.track("web", userId="u2", event="Pricing Viewed")
        await book.run()

        [u1] = book.api.get("/api/v1/profiles", params={"user_id": "u1"}).json()["data"]
        assert u1["traits"]["lead_score"]["value"] == 55
        assert u1["traits"]["last_scored_action"]["value"] == "Whitepaper Downloaded"
        [u2] = book.api.get("/api/v1/profiles", params={"user_id": "u2"}).json()["data"]
        assert u2["traits"]["lead_score"]["value"] == 10

        changes = book.api.get(
            "/api/v1/events", params={"type": "lead.score_changed", "limit": 50}
        ).json()["data"]
        scores = sorted((e["user_id"], e["data"]["score"]) for e in changes)
        assert scores == [("u1", 10), ("u1", 35), ("u1", 40), ("u1", 55), ("u2", 10)]
        assert book.statuses("score-behaviour") == ["succeeded"] * 5


async def test_scores_add_up_when_the_sdk_sends_one_batch(database_url: str) -> None:
    """The real Segment SDK in its default configuration queues calls and sends them in one
    batch: four actions of one person are stored together and their runs start together.
    Profile updates still apply in the order the events were stored, each increment whole."""
    async with playbook(database_url) as book:
        await book.apply("behaviour-scoring", {})
        client = SegmentClient(book.write_keys["web"], host=book.base_url)
        try:
            for action in ACTIONS:
                client.track(user_id="u1", event=action)
            client.track(user_id="u2", event="Pricing Viewed")
            client.flush()  # one POST /v1/batch
        finally:
            client.shutdown()
        stored = book.api.get("/api/v1/events", params={"type": "track", "limit": 50}).json()
        assert len(stored["data"]) == len(ACTIONS) + 1
        await book.run()

        [u1] = book.api.get("/api/v1/profiles", params={"user_id": "u1"}).json()["data"]
        assert u1["traits"]["lead_score"]["value"] == 55
        assert u1["traits"]["last_scored_action"]["value"] == "Whitepaper Downloaded"
        changes = book.api.get(
            "/api/v1/events", params={"type": "lead.score_changed", "limit": 50}
        ).json()["data"]
        scores = sorted((e["user_id"], e["data"]["score"]) for e in changes)
        assert scores == [("u1", 10), ("u1", 35), ("u1", 40), ("u1", 55), ("u2", 10)]
        # Each change names the action it scored, in the order the actions were stored.
        by_score = {
            e["data"]["score"]: e["data"]["reason"] for e in changes if e["user_id"] == "u1"
        }
        assert [by_score[s] for s in (10, 35, 40, 55)] == [
            "Pricing Viewed",
            "Webinar Attended",
            "Email Clicked",
            "Whitepaper Downloaded",
        ]
        assert book.statuses("score-behaviour") == ["succeeded"] * 5
