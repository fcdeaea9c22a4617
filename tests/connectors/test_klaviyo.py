"""The Klaviyo connector against the Klaviyo sandbox over loopback HTTP; every request it
sends is also checked against Klaviyo's published OpenAPI files."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from renkei.connectors import (
    CallContext,
    ConfigurationError,
    RateLimitSpec,
    RecordError,
    RecordOk,
)
from renkei.connectors.klaviyo import KlaviyoConnector
from renkei.expr import compile_template
from renkei.sandbox.klaviyo import DEFAULT_API_KEY, KlaviyoSandbox, KlaviyoSandboxConfig

from .conftest import RecordingClock
from .klaviyo_spec import validate_all
from .vendor_support import calls, open_ctx, serve

connector = KlaviyoConnector()


@dataclass
class Klaviyo:
    sandbox: KlaviyoSandbox
    url: str
    clock: RecordingClock

    def open(
        self, *, api_key: str = DEFAULT_API_KEY, config: dict[str, Any] | None = None, **kw: Any
    ) -> CallContext:
        return open_ctx(
            connector,
            self.clock,
            credentials={"api_key": api_key},
            config={"base_url": self.url, **(config or {})},
            **kw,
        )

    def spec_checked(self) -> int:
        return validate_all(self.sandbox.requests)


Start = Callable[..., Klaviyo]


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def klaviyo(clock: RecordingClock) -> Iterator[Start]:
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> Klaviyo:
            sandbox = KlaviyoSandbox(KlaviyoSandboxConfig(**config), clock)
            return Klaviyo(sandbox, serve(stack, sandbox), clock)

        yield start


def profile(n: int, **extra: Any) -> dict[str, Any]:
    return {"email": f"p{n}@example.com", "first_name": "P", "properties": {"n": n}, **extra}


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "metric": "Started Checkout",
        "profile": {"email": f"p{n}@example.com"},
        "properties": {"cart_value": 10 * n},
        "time": "2026-01-01T00:00:00+00:00",
        "value": 10.0 * n,
        **extra,
    }


# --- authentication ------------------------------------------------------------------------


async def test_a_refused_key_is_a_clear_permanent_configuration_error(klaviyo: Start) -> None:
    k = klaviyo()
    async with k.open(api_key="pk_wrong") as ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("upsert_profile", profile(1), ctx)
    assert raised.value.code == "authentication_failed"
    assert "Incorrect authentication credentials" in raised.value.message
    assert calls(k.sandbox, "POST", "/api/profile-import") == 1
    assert k.sandbox.profiles == {}


# --- profiles and events -------------------------------------------------------------------


async def test_profile_import_creates_then_updates(klaviyo: Start) -> None:
    k = klaviyo()
    async with k.open() as ctx:
        created = await connector.call("upsert_profile", profile(1), ctx)
        updated = await connector.call("upsert_profile", profile(1, last_name="Q"), ctx)
    assert created.records[0].status == "created" and updated.records[0].status == "updated"
    assert created.records[0].id == updated.records[0].id
    stored = k.sandbox.profile_by_email("p1@example.com")
    assert stored is not None and stored.attributes["last_name"] == "Q"
    assert k.spec_checked() == 2


async def test_per_profile_errors_are_reported(klaviyo: Start) -> None:
    k = klaviyo()
    records = [profile(1), profile(2, email="not-an-email"), profile(3, phone_number="555")]
    async with k.open() as ctx:
        result = await connector.call("upsert_profiles", records, ctx)
    assert isinstance(result.records[0], RecordOk)
    assert (
        isinstance(result.records[1], RecordError) and "Invalid email" in result.records[1].message
    )
    assert (
        isinstance(result.records[2], RecordError) and "phone number" in result.records[2].message
    )
    assert len(k.sandbox.profiles) == 1
    assert k.spec_checked() == 3


async def test_events_carry_a_unique_id_so_a_repeat_is_not_counted_twice(klaviyo: Start) -> None:
    k = klaviyo()
    async with k.open() as ctx:
        await connector.call("create_event", event(1), ctx)
        await connector.call("create_event", event(1), ctx)  # the same event, sent again
        await connector.call("create_event", event(1, unique_id="order-77"), ctx)
        batch = await connector.call("create_events", [event(2), event(3)], ctx)
    assert batch.ok
    assert len(k.sandbox.events) == 4 and k.sandbox.state.duplicate_events == 1
    assert {e.unique_id for e in k.sandbox.events} >= {"order-77"}
    assert k.spec_checked() == 5


# --- limits --------------------------------------------------------------------------------


def steady(ctx: CallContext, clock: RecordingClock, **calls: int) -> None:
    """Set steady windows the way the runtime does: as the context's rate-limit pools."""
    ctx.http.use_pools(
        {
            name: RateLimitSpec(calls.get(name, limit.calls), limit.per_seconds).in_memory(clock)
            for name, limit in connector.spec.rate_limit_pools.items()
        }
    )


async def test_burst_and_steady_windows_are_never_exceeded(
    klaviyo: Start, clock: RecordingClock
) -> None:
    k = klaviyo(rate_limits={"profile_import": (3, 10)})
    started = clock.time()
    async with k.open(config={"burst_limits": {"profile_import": 3}}) as ctx:
        steady(ctx, clock, profile_import=10)
        result = await connector.call("upsert_profiles", [profile(n) for n in range(25)], ctx)
    assert result.ok and len(k.sandbox.profiles) == 25
    assert k.sandbox.violations == []
    assert clock.time() - started >= 120  # 25 calls at 10 a minute span three minutes


async def test_the_burst_window_holds_across_contexts(
    klaviyo: Start, clock: RecordingClock
) -> None:
    # The runtime opens a context per job: back-to-back jobs must share the burst window.
    k = klaviyo(rate_limits={"create_event": (3, 1000)})
    for job in range(4):
        async with k.open(config={"burst_limits": {"create_event": 3}}) as ctx:
            events = [event(n) for n in range(job * 3, job * 3 + 3)]
            assert (await connector.call("create_events", events, ctx)).ok
    assert len(k.sandbox.events) == 12
    assert k.sandbox.violations == []


async def test_a_429_waits_for_retry_after(klaviyo: Start, clock: RecordingClock) -> None:
    k = klaviyo()
    k.sandbox.fail_next(1, 429, path="/api/events", headers={"Retry-After": "7"})
    async with k.open() as ctx:
        assert (await connector.call("create_event", event(1), ctx)).ok
    assert clock.sleeps == [7.0]
    assert calls(k.sandbox, "POST", "/api/events") == 2


async def test_5xx_is_retried_with_backoff(klaviyo: Start, clock: RecordingClock) -> None:
    k = klaviyo()
    k.sandbox.fail_next(2, 503, path="/api/profile-import")
    async with k.open() as ctx:
        assert (await connector.call("upsert_profile", profile(1), ctx)).ok
    assert clock.sleeps == [0.5, 1.0]


# --- bulk import ---------------------------------------------------------------------------


async def test_bulk_import_waits_for_the_job_and_maps_its_errors(
    klaviyo: Start, clock: RecordingClock
) -> None:
    k = klaviyo(bulk_job_polls=2, import_errors_page_size=1)
    records = [profile(n) for n in range(250)]
    records[10] = profile(10, email="broken")
    records[200] = profile(200, phone_number="12")
    async with k.open() as ctx:
        result = await connector.call("bulk_import_profiles", records, ctx)
    failed = {r.index: r for r in result.failed}
    assert set(failed) == {10, 200}
    assert "Invalid email" in failed[10].message
    assert sum(1 for r in result.records if r.ok and r.status == "imported") == 248
    assert len(k.sandbox.profiles) == 248
    assert calls(k.sandbox, "POST", "/api/profile-bulk-import-jobs") == 1
    assert result.data[0]["status"] == "complete"
    assert clock.sleeps == [1.0, 2.0]  # two status polls before the job completed
    assert k.sandbox.violations == []
    assert k.spec_checked() == 1


async def test_a_job_still_running_is_reported_and_can_be_read_later(klaviyo: Start) -> None:
    k = klaviyo(bulk_job_polls=2)
    records = [profile(1), profile(2, email="broken")]
    async with k.open(config={"bulk_wait_seconds": 0}) as ctx:
        result = await connector.call("bulk_import_profiles", records, ctx)
        job_id = result.data[0]["id"]
        assert {r.status for r in result.records} == {"queued"}
        assert {r.id for r in result.records} == {job_id}
        first = await connector.call("bulk_import_job", {"job_id": job_id}, ctx)
        later = await connector.call("bulk_import_job", {"job_id": job_id}, ctx)
    assert first.data["job"]["status"] == "processing" and first.data["errors"] == []
    assert later.data["job"]["status"] == "complete"
    assert [(e["position"], e["code"]) for e in later.data["errors"]] == [(1, "invalid")]


# --- reading -------------------------------------------------------------------------------


async def test_cursor_paging_reads_every_profile_exactly_once(klaviyo: Start) -> None:
    k = klaviyo()
    seeded = k.sandbox.seed_profiles(350, spacing_seconds=1.0)
    async with k.open() as ctx:
        everything = await connector.call("list_profiles", {}, ctx)
        first = await connector.call("list_profiles", {"max_pages": 2}, ctx)
        rest = await connector.call("list_profiles", {"cursor": first.data["next_cursor"]}, ctx)
        recent = await connector.call(
            "list_profiles", {"updated_after": "2025-12-31T23:58:00+00:00"}, ctx
        )
    ids = [p["id"] for p in everything.data["records"]]
    assert len(ids) == 350 == len(set(ids)) and set(ids) == {p.id for p in seeded}
    updated = [p["attributes"]["updated"] for p in everything.data["records"]]
    assert updated == sorted(updated) and everything.data["next_cursor"] is None
    resumed = [p["id"] for p in first.data["records"] + rest.data["records"]]
    assert resumed == ids
    assert len(recent.data["records"]) == 120  # updated in the last 119 s, strictly after
    pages = [c for c in k.sandbox.requests if c.method == "GET"]
    assert all(c.query["page[size]"] == "100" and c.query["sort"] == "updated" for c in pages)
    assert k.sandbox.violations == []
    assert k.spec_checked() == len(pages) == 4 + 2 + 2 + 2


# --- flows ---------------------------------------------------------------------------------


async def test_playbook_personalised_email_after_a_user_action(klaviyo: Start) -> None:
    """Seed playbook 2: an app event becomes a Klaviyo event that a Klaviyo flow emails on."""
    k = klaviyo()
    template = compile_template(
        '{"metric": "Abandoned Cart", "unique_id": "{{ event.id }}",'
        ' "profile": {"email": "{{ event.email }}", "first_name": "{{ event.traits.first_name }}"},'
        ' "properties": {"items": {{ event.data.items | json }}, "cart_url": "{{ event.data.url }}"}}'
    )
    app_event = {
        "id": "evt_123",
        "email": "shopper@example.com",
        "traits": {"first_name": "Mia"},
        "data": {"items": ["sku-1", "sku-2"], "url": "https://shop.example.com/cart/9"},
    }
    async with k.open() as ctx:
        result = await connector.call("create_event", template.render({"event": app_event}), ctx)
    assert result.ok and result.records[0].id == "evt_123"
    (stored,) = k.sandbox.events
    assert stored.metric == "Abandoned Cart" and stored.properties["items"] == ["sku-1", "sku-2"]
    assert k.spec_checked() == 1


async def test_test_call_reads_one_profile(klaviyo: Start) -> None:
    k = klaviyo(seed_profiles=3)
    async with k.open() as ctx:
        assert await connector.test_call(ctx) == {"profiles_visible": 1}
