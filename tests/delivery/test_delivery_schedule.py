"""Time-dependent delivery behaviour on a ManualClock: rotation grace, operational events,
overload penalty, disabling an endpoint that keeps failing. Real HTTP, no sleeps."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.delivery.endpoints import create_endpoint, reveal_secret, rotate_secret
from renkei.delivery.ordering import repair_lanes
from renkei.delivery.publishing import publish
from renkei.delivery.service import Webhooks
from renkei.hub import Hub
from renkei.store.tables.core import jobs
from renkei.store.tables.webhooks import deliveries, endpoints
from tests.delivery.webhook_receiver import Received, Receiver, verifies, verify
from tests.support.server import test_settings as settings_for


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def hub_factory(database_url: str, clock: ManualClock) -> AsyncIterator[Any]:
    hubs: list[Hub] = []

    async def make(**overrides: Any) -> Hub:
        hub = Hub(settings_for(database_url, **overrides), clock=clock)
        await hub.start(with_worker=False)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.webhooks.close()
        await hub.stop()


async def add_endpoint(hub: Hub, url: str, **fields: Any) -> tuple[str, str]:
    async with hub.database.transaction() as tx:
        endpoint = await create_endpoint(
            tx,
            hub.keyring,
            {"name": "e", "url": url, **fields},
            now=hub.clock.now(),
            https_only=False,
        )
        secret = await reveal_secret(tx, hub.keyring, endpoint.id)
    return endpoint.id, secret


async def send(hub: Hub, event_type: str, data: Any) -> str:
    webhooks: Webhooks = hub.webhooks
    published = await publish(webhooks, event_type=event_type, data=data)
    return str(published.body["id"])


async def burst(hub: Hub) -> int:
    return await hub.new_worker(run_schedules=False).run_burst()


async def delivery_row(hub: Hub, event_id: str) -> Any:
    async with hub.database.read() as connection:
        return (
            await connection.execute(deliveries.select().where(deliveries.c.event_id == event_id))
        ).one()


async def test_rotation_grace_both_secrets_then_only_the_new(
    hub_factory: Any, clock: ManualClock
) -> None:
    with Receiver() as receiver:
        hub = await hub_factory(secret_rotation_grace_seconds=86400)
        endpoint_id, old = await add_endpoint(hub, receiver.url)
        await send(hub, "message.first_open", {"n": 1})
        await burst(hub)
        assert verifies(old, receiver.requests[-1])

        async with hub.database.transaction() as tx:
            new = await rotate_secret(
                tx, hub.keyring, endpoint_id, now=clock.now(), grace_seconds=86400
            )
        clock.advance(hours=23)
        await send(hub, "message.first_open", {"n": 2})
        await burst(hub)
        during: Received = receiver.requests[-1]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert verifies(old, during, any_time=True) and verifies(new, during, any_time=True)

        clock.advance(hours=1, seconds=1)
        await send(hub, "message.first_open", {"n": 3})
        await burst(hub)
        after = receiver.requests[-1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert verifies(new, after, any_time=True)
        assert not verifies(old, after, any_time=True)


async def test_at_most_ten_old_secrets_keep_signing(hub_factory: Any, clock: ManualClock) -> None:
    with Receiver() as receiver:
        hub = await hub_factory()
        endpoint_id, first = await add_endpoint(hub, receiver.url)
        keys = [first]
        for _ in range(12):
            async with hub.database.transaction() as tx:
                keys.append(
                    await rotate_secret(
                        tx, hub.keyring, endpoint_id, now=clock.now(), grace_seconds=3600
                    )
                )
        await send(hub, "t", {})
        await burst(hub)
        request = receiver.requests[-1]
        assert len(request.headers["webhook-signature"].split(" ")) == 11
        assert [verifies(k, request) for k in keys] == [False, False] + [True] * 11


async def test_operational_events_failing_and_exhausted(
    hub_factory: Any, clock: ManualClock
) -> None:
    with Receiver(lambda _, __: 500) as failing, Receiver() as watcher:
        hub = await hub_factory(retry_schedule=(10, 10, 10, 10, 10), retry_jitter=0.0)
        await add_endpoint(hub, failing.url, event_types=["receipt.receipt_validated"])
        _, watcher_secret = await add_endpoint(
            hub, watcher.url, event_types=["message.attempt.failing", "message.attempt.exhausted"]
        )
        event_id = await send(hub, "receipt.receipt_validated", {"receipt_id": "r"})
        for _ in range(6):
            await burst(hub)
            clock.advance(seconds=11)
        await burst(hub)
        assert len(failing.requests) == 6
        row = await delivery_row(hub, event_id)
        assert row.status == "exhausted" and row.attempts == 6 and row.next_attempt_at is None
        notices = [verify(watcher_secret, r, any_time=True) for r in watcher.requests]
        assert [n["type"] for n in notices] == [
            "message.attempt.failing",
            "message.attempt.exhausted",
        ]
        assert notices[0]["data"]["attempts"] == 4 and notices[1]["data"]["attempts"] == 6
        assert notices[1]["data"]["event_id"] == event_id
        assert notices[1]["data"]["last_attempt"]["status_code"] == 500


async def test_overload_penalty_after_429_without_retry_after_and_timeouts(
    hub_factory: Any, clock: ManualClock
) -> None:
    def slow(request: Received, __: int) -> Any:
        if request.path == "/slow":
            time.sleep(0.6)
        return 429 if request.path == "/busy" else 200

    with Receiver(slow) as receiver:
        hub = await hub_factory(
            retry_schedule=(1, 1), overload_penalty_seconds=60, retry_jitter=0.0
        )
        await add_endpoint(hub, receiver.url.replace("/hook", "/busy"), event_types=["busy"])
        await add_endpoint(
            hub, receiver.url.replace("/hook", "/slow"), event_types=["slow"], timeout_seconds=0.2
        )
        busy = await send(hub, "busy", {})
        slow_event = await send(hub, "slow", {})
        await burst(hub)
        for event_id in (busy, slow_event):
            row = await delivery_row(hub, event_id)
            assert row.status == "failed"
            assert row.next_attempt_at - row.last_attempt_at >= timedelta(seconds=60)
        assert "timeout" in (await delivery_row(hub, slow_event)).last_error
        clock.advance(seconds=30)
        assert await burst(hub) == 0


async def test_endpoint_failing_for_five_days_is_disabled(
    hub_factory: Any, clock: ManualClock
) -> None:
    with Receiver(lambda _, __: 503) as receiver, Receiver() as watcher:
        hub = await hub_factory(retry_schedule=(2 * 86400,) * 5, retry_jitter=0.0)
        endpoint_id, _ = await add_endpoint(hub, receiver.url, event_types=["t"])
        _, watcher_secret = await add_endpoint(hub, watcher.url, event_types=["endpoint.disabled"])
        await send(hub, "t", {})
        for _ in range(3):
            await burst(hub)
            clock.advance(days=2, seconds=1)
        async with hub.database.read() as connection:
            state = (
                await connection.execute(endpoints.select().where(endpoints.c.id == endpoint_id))
            ).one()
        assert state.disabled is False and state.failing_since is not None
        await burst(hub)
        async with hub.database.read() as connection:
            state = (
                await connection.execute(endpoints.select().where(endpoints.c.id == endpoint_id))
            ).one()
        assert state.disabled is True and state.disabled_reason == "failing"
        notice = verify(watcher_secret, watcher.requests[-1], any_time=True)
        assert notice["type"] == "endpoint.disabled" and notice["data"]["reason"] == "failing"


async def test_a_lane_that_lost_its_job_is_repaired(hub_factory: Any, clock: ManualClock) -> None:
    with Receiver() as receiver:
        hub = await hub_factory()
        await add_endpoint(hub, receiver.url, ordered=True)
        first = await send(hub, "t", {"n": 1})
        async with hub.database.transaction() as tx:
            # Simulate a lane job gone to dead letter: the lane stays active, no job is left.
            await tx.execute(jobs.update().values(status="dead"))
        assert await burst(hub) == 0
        assert await repair_lanes(hub) == 1
        assert await repair_lanes(hub) == 0
        await burst(hub)
        assert receiver.ids() == [first]


async def test_a_success_clears_a_failure_another_process_recorded(
    hub_factory: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process skips clearing ``failing_since`` for an endpoint it has just seen not
    failing (recorder.NOT_FAILING_SECONDS); another process's failure meanwhile is cleared
    by its first success after that window."""
    from renkei.delivery import recorder
    from renkei.security.keyring import generate_key

    monkeypatch.setattr(recorder, "NOT_FAILING_SECONDS", 0.3)
    status = {"code": 204}
    with Receiver(lambda _, __: status["code"]) as receiver:
        shared = {"retry_schedule": (60,) * 3, "retry_jitter": 0.0, "secret_key": [generate_key()]}
        one = await hub_factory(**shared)
        other = await hub_factory(**shared)
        endpoint_id, _ = await add_endpoint(one, receiver.url)

        async def failing_since() -> Any:
            async with one.database.read() as connection:
                query = endpoints.select().where(endpoints.c.id == endpoint_id)
                return (await connection.execute(query)).one().failing_since

        await send(one, "t", {"n": 1})
        await burst(one)  # one clears (nothing to clear) and trusts that for 0.3 s
        status["code"] = 503
        await send(other, "t", {"n": 2})
        await burst(other)
        assert await failing_since() is not None
        status["code"] = 204
        time.sleep(0.35)
        clock.advance(seconds=61)
        assert await burst(one) == 1  # the retry of n=2, by the process that had trusted it
        assert await failing_since() is None
        assert len(receiver.requests) == 3
