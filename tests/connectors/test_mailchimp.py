"""The Mailchimp connector against the Mailchimp sandbox over loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from renkei.connectors import CallContext, ConfigurationError, PermanentError, RecordError
from renkei.connectors.mailchimp import MailchimpConnector, api_base_url, subscriber_hash
from renkei.expr import compile_template
from renkei.sandbox.mailchimp import (
    DEFAULT_API_KEY,
    DEFAULT_LIST_ID,
    MailchimpSandbox,
    MailchimpSandboxConfig,
)

from .conftest import RecordingClock
from .vendor_support import calls, open_ctx, serve

connector = MailchimpConnector()
MEMBERS = f"/3.0/lists/{DEFAULT_LIST_ID}/members"


@dataclass
class Mailchimp:
    sandbox: MailchimpSandbox
    url: str
    clock: RecordingClock

    def open(self, *, api_key: str = DEFAULT_API_KEY, **kw: Any) -> CallContext:
        config = {"api_base_url": f"{self.url}/3.0", "list_id": DEFAULT_LIST_ID}
        return open_ctx(
            connector, self.clock, credentials={"api_key": api_key}, config=config, **kw
        )


Start = Callable[..., Mailchimp]


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def mailchimp(clock: RecordingClock) -> Iterator[Start]:
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> Mailchimp:
            sandbox = MailchimpSandbox(MailchimpSandboxConfig(**config), clock)
            return Mailchimp(sandbox, serve(stack, sandbox), clock)

        yield start


def member(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "email_address": f"person{n}@example.com",
        "status": "subscribed",
        "merge_fields": {"FNAME": "Person", "LNAME": str(n)},
        **extra,
    }


# --- the account ---------------------------------------------------------------------------


def test_the_data_center_comes_from_the_key_suffix() -> None:
    assert api_base_url("0123456789abcdef-us21") == "https://us21.api.mailchimp.com/3.0"
    assert subscriber_hash(" Ann@Example.COM ") == subscriber_hash("ann@example.com")
    assert subscriber_hash("ann@example.com") == hashlib.md5(b"ann@example.com").hexdigest()
    with pytest.raises(ConfigurationError, match="data-center"):
        open_ctx(connector, RecordingClock(), credentials={"api_key": "no-suffix-here!"})


async def test_a_refused_key_is_a_clear_permanent_configuration_error(mailchimp: Start) -> None:
    m = mailchimp()
    ctx = m.open(api_key="ffffffffffffffffffffffffffffffff-us21")
    async with ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("upsert_member", member(1), ctx)
    assert raised.value.status_code == 401
    assert "API key may be invalid" in raised.value.message
    assert "ffffffff" not in raised.value.message
    assert calls(m.sandbox, "PUT", MEMBERS) == 1
    assert m.sandbox.members() == {}


# --- single members ------------------------------------------------------------------------


async def test_upsert_addresses_the_member_by_md5_and_applies_tags(mailchimp: Start) -> None:
    m = mailchimp()
    async with m.open() as ctx:
        record = {
            "email_address": "Ann.Lee@Example.com",
            "status_if_new": "subscribed",
            "merge_fields": {"FNAME": "Ann"},
            "tags": ["lead", "webinar"],
        }
        result = await connector.call("upsert_member", record, ctx)
    assert result.ok and result.records[0].id == subscriber_hash("ann.lee@example.com")
    put = next(c for c in m.sandbox.requests if c.method == "PUT")
    assert put.path.endswith(subscriber_hash("ann.lee@example.com"))
    stored = m.sandbox.member("ann.lee@example.com")
    assert stored is not None and stored.status == "subscribed"
    assert stored.merge_fields == {"FNAME": "Ann"} and set(stored.tags) == {"lead", "webinar"}


async def test_status_if_new_never_resubscribes_an_unsubscribed_member(mailchimp: Start) -> None:
    m = mailchimp()
    async with m.open() as ctx:
        await connector.call(
            "upsert_member", {"email_address": "bo@example.com", "status": "unsubscribed"}, ctx
        )
        await connector.call(
            "upsert_member",
            {
                "email_address": "bo@example.com",
                "status_if_new": "subscribed",
                "merge_fields": {"FNAME": "Bo"},
            },
            ctx,
        )
    stored = m.sandbox.member("bo@example.com")
    assert stored is not None and stored.status == "unsubscribed"
    assert stored.merge_fields["FNAME"] == "Bo"


async def test_tags_and_events(mailchimp: Start) -> None:
    m = mailchimp()
    async with m.open() as ctx:
        await connector.call("upsert_member", member(1, tags=["trial"]), ctx)
        tags = [{"name": "trial", "status": "inactive"}, {"name": "customer", "status": "active"}]
        await connector.call(
            "update_member_tags", {"email_address": "person1@example.com", "tags": tags}, ctx
        )
        await connector.call(
            "add_member_event",
            {
                "email_address": "person1@example.com",
                "name": "viewed_pricing",
                "properties": {"plan": "pro"},
            },
            ctx,
        )
        with pytest.raises(PermanentError, match="invalid input"):
            await connector.call(
                "add_member_event", {"email_address": "person1@example.com", "name": "x y"}, ctx
            )
        with pytest.raises(PermanentError) as missing:
            await connector.call(
                "add_member_event", {"email_address": "nobody@example.com", "name": "seen"}, ctx
            )
    assert missing.value.status_code == 404
    stored = m.sandbox.member("person1@example.com")
    assert stored is not None and set(stored.tags) == {"customer"}
    assert [(e.name, e.properties) for e in m.sandbox.events] == [
        ("viewed_pricing", {"plan": "pro"})
    ]


# --- batches -------------------------------------------------------------------------------


async def test_batch_upsert_sends_500_a_call_and_reports_each_member(mailchimp: Start) -> None:
    m = mailchimp()
    async with m.open() as ctx:
        await connector.call("upsert_member", member(0, status="subscribed"), ctx)
        records = [member(n) for n in range(499)] + [member(999, email_address="not-an-email")]
        result = await connector.call("upsert_members", records, ctx)
        with pytest.raises(PermanentError, match="at most 500"):
            await connector.call("upsert_members", [member(n) for n in range(501)], ctx)
    assert calls(m.sandbox, "POST", f"/3.0/lists/{DEFAULT_LIST_ID}") == 1
    statuses = [r.status if r.ok else None for r in result.records]
    assert statuses[0] == "updated" and statuses[1:499] == ["created"] * 498
    failed = result.failed
    assert [f.index for f in failed] == [499]
    assert isinstance(failed[0], RecordError) and "looks fake or invalid" in failed[0].message
    assert len(m.sandbox.members()) == 499
    assert m.sandbox.violations == []


# --- limits --------------------------------------------------------------------------------


async def test_never_more_than_10_connections_at_once(mailchimp: Start) -> None:
    m = mailchimp()
    async with m.open() as ctx:
        with m.sandbox.hold() as gate:
            calls_ = [
                asyncio.create_task(connector.call("upsert_member", member(n), ctx))
                for n in range(25)
            ]
            assert await asyncio.to_thread(gate.wait_for_waiters, 10)
            await asyncio.sleep(0.05)  # room for an 11th call to (wrongly) arrive
            assert m.sandbox.in_flight == 10
        results = await asyncio.gather(*calls_)
    assert all(r.ok for r in results)
    assert m.sandbox.max_in_flight == 10
    assert m.sandbox.violations == []
    assert len(m.sandbox.members()) == 25


async def test_429_and_5xx_are_retried_with_backoff(
    mailchimp: Start, clock: RecordingClock
) -> None:
    m = mailchimp()
    m.sandbox.fail_next(1, 429, path=MEMBERS, headers={"Retry-After": "2"})
    m.sandbox.fail_next(2, 503, path=MEMBERS)
    async with m.open() as ctx:
        result = await connector.call("upsert_member", member(1), ctx)
    assert result.ok
    assert calls(m.sandbox, "PUT", MEMBERS) == 4
    assert clock.sleeps == [2.0, 1.0, 2.0]


# --- reading -------------------------------------------------------------------------------


async def test_paging_reads_every_member_exactly_once(
    mailchimp: Start, clock: RecordingClock
) -> None:
    m = mailchimp()
    m.sandbox.seed_members(2500, spacing_seconds=1.0)
    async with m.open() as ctx:
        everything = await connector.call("list_members", {}, ctx)
        first = await connector.call("list_members", {"max_pages": 2}, ctx)
        rest = await connector.call("list_members", {"offset": first.data["next_offset"]}, ctx)
        since = await connector.call(
            "list_members", {"since_last_changed": "2025-12-31T23:50:00+00:00"}, ctx
        )
    ids = [r["id"] for r in everything.data["records"]]
    assert len(ids) == 2500 == len(set(ids)) == everything.data["total_items"]
    assert set(ids) == set(m.sandbox.members())
    assert first.data["next_offset"] == 2000 and rest.data["next_offset"] is None
    resumed = [r["id"] for r in first.data["records"] + rest.data["records"]]
    assert sorted(resumed) == sorted(ids) and len(resumed) == 2500
    changed = [r["last_changed"] for r in since.data["records"]]
    assert len(changed) == 600 and changed == sorted(changed)
    assert since.data["last_changed"] == "2026-01-01T00:00:00+00:00"
    pages = [c for c in m.sandbox.requests if c.method == "GET"]
    assert all(int(c.query["count"]) <= 1000 for c in pages)
    assert len(pages) == 3 + 2 + 1 + 1
    assert m.sandbox.violations == []


# --- flows ---------------------------------------------------------------------------------


async def test_playbook_form_contact_to_the_mailing_list(mailchimp: Start) -> None:
    """Seed playbook 1: a form submission becomes a subscribed, tagged audience member."""
    m = mailchimp()
    template = compile_template(
        '{"email_address": "{{ event.data.email }}", "status_if_new": "subscribed",'
        ' "merge_fields": {"FNAME": "{{ event.data.first_name }}"},'
        ' "tags": ["form:{{ event.data.form }}"]}'
    )
    form = {"data": {"email": "lead@example.com", "first_name": "Kim", "form": "demo-request"}}
    async with m.open() as ctx:
        result = await connector.call("upsert_member", template.render({"event": form}), ctx)
    assert result.ok
    stored = m.sandbox.member("lead@example.com")
    assert stored is not None and set(stored.tags) == {"form:demo-request"}


async def test_test_call_pings(mailchimp: Start) -> None:
    async with mailchimp().open() as ctx:
        assert (await connector.test_call(ctx)) == {"health_status": "Everything's Chimpy!"}
