"""The OneSignal connector against the OneSignal sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.connectors import (
    CallContext,
    ConfigurationError,
    PermanentError,
    RateLimitSpec,
    RecordError,
)
from renkei.connectors.onesignal import OneSignalConnector
from renkei.sandbox import serve_in_thread
from renkei.sandbox.onesignal import (
    DEFAULT_API_KEY,
    DEFAULT_APP_ID,
    OneSignalSandbox,
    OneSignalSandboxConfig,
)

from .conftest import RecordingClock
from .harness import START, rig
from .vendor_support import calls, open_ctx, serve

connector = OneSignalConnector()


@dataclass
class OneSignal:
    sandbox: OneSignalSandbox
    url: str
    clock: RecordingClock

    def open(self, *, key: str = DEFAULT_API_KEY, **config: Any) -> CallContext:
        return open_ctx(
            connector,
            self.clock,
            credentials={"rest_api_key": key},
            config={"base_url": self.url, "app_id": DEFAULT_APP_ID, **config},
        )


Start = Callable[..., OneSignal]


@pytest.fixture
def onesignal() -> Iterator[Start]:
    clock = RecordingClock()
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> OneSignal:
            sandbox = OneSignalSandbox(OneSignalSandboxConfig(**config), clock)
            return OneSignal(sandbox, serve(stack, sandbox), clock)

        yield start


def push(*external_ids: str, **extra: Any) -> dict[str, Any]:
    return {
        "include_aliases": {"external_id": list(external_ids)},
        "target_channel": "push",
        "contents": {"en": "Your cart misses you"},
        **extra,
    }


# --- notifications -----------------------------------------------------------------------


async def test_a_push_reaches_subscribed_users_by_external_id(onesignal: Start) -> None:
    o = onesignal()
    o.sandbox.add_user("u-1")
    o.sandbox.add_user("u-2", subscribed=False)
    async with o.open() as ctx:
        result = await connector.call("create_notification", push("u-1", "u-2", "ghost"), ctx)
    [notification] = o.sandbox.notifications
    assert notification.recipients == ("u-1",)
    assert result.data["notifications"][0]["id"] == notification.id
    assert result.data["invalid_external_ids"] == ["u-2", "ghost"]
    [call] = o.sandbox.requests
    assert call.headers["authorization"] == f"Key {DEFAULT_API_KEY}"
    body = json.loads(call.body)
    assert body["app_id"] == DEFAULT_APP_ID and body["idempotency_key"]


async def test_a_segment_push_and_the_legacy_basic_scheme(onesignal: Start) -> None:
    o = onesignal()
    o.sandbox.add_user("u-1")
    async with o.open(auth_scheme="Basic") as ctx:
        await connector.call(
            "create_notification",
            {"included_segments": ["Subscribed Users"], "contents": {"en": "Sale!"}},
            ctx,
        )
    assert o.sandbox.requests[0].headers["authorization"].startswith("Basic ")
    assert o.sandbox.notifications[0].recipients == ("u-1",)


async def test_no_subscribed_recipient_is_a_permanent_error(onesignal: Start) -> None:
    o = onesignal()
    async with o.open() as ctx:
        with pytest.raises(PermanentError, match="not subscribed"):
            await connector.call("create_notification", push("nobody"), ctx)


async def test_two_targeting_modes_are_refused_before_sending(onesignal: Start) -> None:
    o = onesignal()
    async with o.open() as ctx:
        with pytest.raises(PermanentError, match="invalid input"):
            await connector.call("create_notification", push("u-1", included_segments=["All"]), ctx)
    assert o.sandbox.requests == []


async def test_more_than_2000_aliases_go_out_as_several_requests(onesignal: Start) -> None:
    o = onesignal()
    ids = [f"u-{n}" for n in range(4500)]
    for external_id in ids:
        o.sandbox.add_user(external_id)
    async with o.open() as ctx:
        result = await connector.call("create_notification", push(*ids), ctx)
    assert [len(n.recipients) for n in o.sandbox.notifications] == [2000, 2000, 500]
    keys = {n["idempotency_key"] for n in result.data["notifications"]}
    assert len(keys) == 3
    assert o.sandbox.violations == []


async def test_a_retried_notification_is_sent_once(onesignal: Start) -> None:
    o = onesignal()
    o.sandbox.add_user("u-1")
    key = "0b6ad2b2-8c1e-4a57-9f0e-2f4c6b0e9d11"
    async with o.open() as ctx:
        first = await connector.call("create_notification", push("u-1", idempotency_key=key), ctx)
        again = await connector.call("create_notification", push("u-1", idempotency_key=key), ctx)
    assert len(o.sandbox.notifications) == 1
    assert first.data["notifications"][0]["id"] == again.data["notifications"][0]["id"]


async def test_a_429_waits_for_retry_after(onesignal: Start) -> None:
    o = onesignal(notification_rate=1)
    o.sandbox.add_user("u-1")
    async with o.open() as ctx:
        # A client window far looser than the app's: only OneSignal's 429 holds it back.
        ctx.http.use_pools({"notifications": RateLimitSpec(1000, 1.0).in_memory(o.clock)})
        for _ in range(3):
            await connector.call("create_notification", push("u-1"), ctx)
    assert len(o.sandbox.notifications) == 3
    assert o.clock.sleeps == [1.0, 1.0]  # Retry-After: 1, as OneSignal said
    assert [v.kind for v in o.sandbox.violations] == ["rate_limit", "rate_limit"]


async def test_the_notification_window_keeps_requests_inside_the_plan(onesignal: Start) -> None:
    o = onesignal(notification_rate=150)
    o.sandbox.add_user("u-1")
    async with o.open() as ctx:
        for _ in range(160):
            await connector.call("create_notification", push("u-1"), ctx)
    assert len(o.sandbox.notifications) == 160 and o.sandbox.violations == []


# --- users -------------------------------------------------------------------------------


async def test_upsert_users_updates_known_users_and_creates_the_others(onesignal: Start) -> None:
    o = onesignal()
    o.sandbox.add_user("u-1", tags={"old": "x", "plan": "free"})
    records = [
        {"external_id": "u-1", "tags": {"plan": "pro", "old": "", "score": 7}},
        {"external_id": "u-2", "tags": {"plan": "free"}, "properties": {"language": "ja"}},
    ]
    async with o.open() as ctx:
        result = await connector.call("upsert_users", records, ctx)
    assert [(r.ok, r.status) for r in result.records] == [(True, "updated"), (True, "created")]  # type: ignore[union-attr]
    assert o.sandbox.user("u-1").tags == {"plan": "pro", "score": "7"}  # type: ignore[union-attr]
    created = o.sandbox.user("u-2")
    assert created is not None and created.tags == {"plan": "free"}
    assert created.properties["language"] == "ja"
    assert o.sandbox.violations == []


async def test_a_user_named_twice_in_a_batch_is_one_request(onesignal: Start) -> None:
    o = onesignal()
    o.sandbox.add_user("u-1")
    records = [
        {"external_id": "u-1", "properties": {"tags": {"a": 1}}},
        {"external_id": "u-1", "tags": {"b": 2}},
    ]
    async with o.open() as ctx:
        result = await connector.call("upsert_users", records, ctx)
    assert result.ok and calls(o.sandbox, "PATCH", "/apps/") == 1
    assert o.sandbox.user("u-1").tags == {"a": "1", "b": "2"}  # type: ignore[union-attr]
    assert records[0] == {"external_id": "u-1", "properties": {"tags": {"a": 1}}}  # untouched
    assert o.sandbox.violations == []  # one request a second per user


async def test_a_permanent_error_fails_its_record_only(onesignal: Start) -> None:
    o = onesignal(max_property_changes=2)  # a stricter app than the documented 100
    for external_id in ("u-1", "u-2", "u-3"):
        o.sandbox.add_user(external_id)
    records = [
        {"external_id": "u-1", "tags": {"a": 1}},
        {"external_id": "u-2", "tags": {"a": 1, "b": 2, "c": 3}},
        {"external_id": "u-3", "tags": {"a": 1}},
    ]
    async with o.open() as ctx:
        result = await connector.call("upsert_users", records, ctx)
    assert [r.ok for r in result.records] == [True, False, True]
    failed = result.records[1]
    assert isinstance(failed, RecordError) and failed.code == "400" and not failed.retryable
    too_many = [{"external_id": "u-9", "tags": {f"t{n}": n for n in range(101)}}]
    async with o.open() as ctx:
        refused = await connector.call("upsert_users", too_many, ctx)
    assert refused.failed[0].code == "invalid_input"


async def test_a_user_hit_again_within_a_second_waits_for_retry_after(onesignal: Start) -> None:
    o = onesignal()
    o.sandbox.add_user("u-1")
    async with o.open() as ctx:
        await connector.call("upsert_users", [{"external_id": "u-1", "tags": {"a": 1}}], ctx)
        await connector.call("upsert_users", [{"external_id": "u-1", "tags": {"a": 2}}], ctx)
    assert o.clock.sleeps == [1.0]
    assert o.sandbox.user("u-1").tags == {"a": "2"}  # type: ignore[union-attr]


async def test_set_user_tags_keys_by_email_and_splits_properties(onesignal: Start) -> None:
    o = onesignal()
    records = [
        {"email": "ann@example.com", "firstname": "Ann", "vip": True, "language": "en"},
        {"email": "bob@example.com", "external_id": "crm-42", "firstname": "Bob"},
    ]
    async with o.open() as ctx:
        result = await connector.call("set_user_tags", records, ctx)
    assert [r.id for r in result.records] == ["ann@example.com", "crm-42"]  # type: ignore[union-attr]
    ann = o.sandbox.user("ann@example.com")
    assert ann is not None and ann.tags == {"firstname": "Ann", "vip": "true"}
    assert ann.properties["language"] == "en"
    assert o.sandbox.user("crm-42").tags == {"firstname": "Bob"}  # type: ignore[union-attr]


async def test_a_refused_key_is_a_configuration_error(onesignal: Start) -> None:
    o = onesignal()
    async with o.open(key="wrong-key") as ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("upsert_users", [{"external_id": "u", "tags": {"a": 1}}], ctx)
        with pytest.raises(ConfigurationError):
            await connector.test_call(ctx)
    assert "wrong-key" not in str(raised.value)
    async with o.open() as ctx:
        assert (await connector.test_call(ctx))["rest_api_key"] == "accepted"
    assert o.sandbox.users == {}


# --- through the queue -------------------------------------------------------------------


async def test_a_message_whose_answer_was_lost_is_sent_once_by_the_queues_retry(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    sandbox = OneSignalSandbox(OneSignalSandboxConfig(), clock)
    sandbox.add_user("u-1")
    sandbox.lose_answers(1)  # sent, but the 503 makes Renkei think it was not
    with serve_in_thread(sandbox.app) as base_url:
        async with rig(database_url, clock) as r:
            await r.connect(
                "onesignal",
                "onesignal",
                config={"base_url": base_url, "app_id": DEFAULT_APP_ID},
                credentials={"rest_api_key": DEFAULT_API_KEY},
            )
            submission_id = await r.submit("onesignal", "create_notification", [push("u-1")])
            await r.drive()
            outcome = await r.submission(submission_id)
    assert outcome.done and outcome.counts.get("ok") == 1, outcome
    assert calls(sandbox, "POST", "/notifications") == 2  # the retry went out...
    assert len(sandbox.notifications) == 1  # ...and OneSignal sent the message once
    keys = {json.loads(c.body)["idempotency_key"] for c in sandbox.requests}
    assert len(keys) == 1
