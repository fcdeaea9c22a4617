"""Profile updates of one person apply in the order the events were stored, even when the
first event's run is held up (its HTTP step answered 503 and waits for its retry), and
increments are atomic. Events come from the real Segment SDK in its default (batching)
configuration; SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from segment.analytics import Client as SegmentClient

from tests.examples.harness import Playbook, playbook
from tests.flows.receivers import Receiver, receiver

pytestmark = pytest.mark.timeout(120)


def _flow(url: str) -> dict[str, Any]:
    return {
        "name": "ordered-scores",
        "trigger": {"event_types": ["track"], "names": ["Scored"]},
        "steps": [
            {
                "id": "check",
                "action": {"url": url + "/check/{{ event.data.properties.n }}", "sign": False},
            },
            {
                "id": "save",
                "action": {
                    "profile": {
                        "increment": {"score": "{{ event.data.properties.points }}"},
                        "traits": {"last": "{{ event.data.properties.n }}"},
                    }
                },
            },
            {
                "id": "announce",
                "action": {
                    "publish": {
                        "type": "score.changed",
                        "data": {
                            "n": "{{ event.data.properties.n }}",
                            "score": "{{ steps.save.updated.score }}",
                        },
                    }
                },
            },
        ],
    }


def _send_batch(book: Playbook, calls: list[tuple[str, dict[str, Any]]]) -> None:
    source = book.api.post("/api/v1/sources", json={"name": "web", "kind": "tracking"})
    assert source.status_code == 201, source.text
    key = book.api.get(f"/api/v1/sources/{source.json()['id']}/secret").json()["write_key"]
    client = SegmentClient(key, host=book.base_url)  # default configuration: it batches
    try:
        for user_id, properties in calls:
            client.track(user_id=user_id, event="Scored", properties=properties)
        client.flush()
    finally:
        client.shutdown()


async def test_a_held_up_first_event_still_updates_the_profile_first(database_url: str) -> None:
    async with playbook(database_url) as book:
        with receiver() as target:
            await _run(book, target)


async def _run(book: Playbook, target: Receiver) -> None:
    target.answer("/check/1", (503, {"error": "busy"}), (200, {"ok": True}))
    created = book.api.post("/api/v1/flows", json=_flow(target.url))
    assert created.status_code == 201, created.text
    _send_batch(
        book,
        [
            ("u1", {"n": 1, "points": 10}),
            ("u1", {"n": 2, "points": 5}),
            ("u1", {"n": 3, "points": 1}),
            ("u2", {"n": 4, "points": 7}),
        ],
    )
    await book.run()
    # u1's first run waits for its retry; u1's later runs wait for it; u2 is not held.
    assert [r["status"] for r in book.runs("ordered-scores")] == [
        "running",
        "queued",
        "queued",
        "succeeded",
    ]
    assert len(book.runs("ordered-scores", status="queued")) == 2
    book.clock.advance(10)
    await book.run()

    assert book.statuses("ordered-scores") == ["succeeded"] * 4
    [u1] = book.api.get("/api/v1/profiles", params={"user_id": "u1"}).json()["data"]
    assert u1["traits"]["score"]["value"] == 16
    assert u1["traits"]["last"]["value"] == 3
    changes = book.api.get("/api/v1/events", params={"type": "score.changed", "limit": 50}).json()[
        "data"
    ]
    seen = sorted((e["user_id"], e["data"]["n"], e["data"]["score"]) for e in changes)
    assert seen == [("u1", 1, 10), ("u1", 2, 15), ("u1", 3, 16), ("u2", 4, 7)]
    assert [r.path for r in target.to("/check/1")] == ["/check/1", "/check/1"]


def _counter(name: str, points: int) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": {"event_types": ["track"], "names": ["Scored"]},
        "steps": [{"action": {"profile": {"increment": {"score": points}}}}],
    }


async def test_increments_of_two_flows_to_one_trait_all_count(database_url: str) -> None:
    """Two flows add to the same trait for the same events; their runs are not ordered
    against each other (different flows), so only an atomic increment keeps every point."""
    async with playbook(database_url) as book:
        for name, points in (("plus-one", 1), ("plus-ten", 10)):
            created = book.api.post("/api/v1/flows", json=_counter(name, points))
            assert created.status_code == 201, created.text
        _send_batch(book, [("u1", {"n": n, "points": 0}) for n in range(6)])
        await book.run()
        assert book.statuses("plus-one") == ["succeeded"] * 6
        assert book.statuses("plus-ten") == ["succeeded"] * 6
        [u1] = book.api.get("/api/v1/profiles", params={"user_id": "u1"}).json()["data"]
        assert u1["traits"]["score"]["value"] == 66
