"""A flow's endpoint action to a FIFO endpoint goes through the endpoint's lanes, as a
published event's delivery does: a failing head holds back its lane (and nothing else),
and the lane's deliveries arrive in the order they were stored. Real HTTP, no sleeps."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from renkei.delivery.endpoints import create_endpoint
from renkei.store.tables.webhooks import deliveries
from tests.flows.conftest import FlowBench
from tests.flows.receivers import Receiver

pytestmark = pytest.mark.timeout(60)


async def test_flow_endpoint_action_keeps_fifo_order_through_the_lane(
    bench: FlowBench, target: Receiver
) -> None:
    hub = bench.hub
    async with hub.database.transaction() as tx:
        endpoint = await create_endpoint(
            tx,
            hub.keyring,
            {
                "name": "crm-fifo",
                "url": target.url + "/fifo",
                # Only the flow sends here: no published event is of this type.
                "event_types": ["crm.never_published"],
                "ordered": True,
                "ordering_key": "user_id",
            },
            now=bench.clock.now(),
            https_only=False,
        )
    await bench.flow(
        {
            "trigger": {"event_types": ["track"], "names": ["Order Paid"]},
            "steps": [{"id": "crm", "action": {"endpoint": "crm-fifo", "event_type": "crm.order"}}],
        }
    )
    # The lane's head is refused once; everything after that is accepted.
    target.answer("/fifo", (503, {"error": "busy"}), (200, {"ok": True}))

    async def order(user: str, n: int) -> None:
        await bench.emit(name="Order Paid", user_id=user, data={"user": user, "n": n})
        await bench.run()

    await order("a", 0)  # sent, refused: a retry is due in 10 s
    await order("a", 1)  # waits behind a/0
    await order("b", 0)  # another lane: not held back
    await order("a", 2)  # waits behind a/0
    sent = [(r.json()["data"]["user"], r.json()["data"]["n"]) for r in target.to("/fifo")]
    assert sent == [("a", 0), ("b", 0)]

    bench.clock.advance(seconds=11)
    await bench.run()
    sent = [(r.json()["data"]["user"], r.json()["data"]["n"]) for r in target.to("/fifo")]
    assert sent == [("a", 0), ("b", 0), ("a", 0), ("a", 1), ("a", 2)]

    async with hub.database.read() as connection:
        rows = (
            await connection.execute(
                select(deliveries.c.lane, deliveries.c.status, deliveries.c.attempts).where(
                    deliveries.c.endpoint_id == endpoint.id
                )
            )
        ).all()
    assert sorted((row.lane, row.status, row.attempts) for row in rows) == [
        ("a", "succeeded", 1),
        ("a", "succeeded", 1),
        ("a", "succeeded", 2),
        ("b", "succeeded", 1),
    ]
