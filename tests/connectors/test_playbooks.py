"""The seed playbooks that need a mailing tool, a marketing-automation tool, a chat
notification or an in-house system, end to end: an event is recorded, a flow renders the
vendor payload with its Liquid template, the connector action is queued, batched and sent
under the connection's limits to the vendor sandbox over loopback HTTP. SQLite and
PostgreSQL, one ManualClock for the hub and the sandboxes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import pytest

from renkei.clock import ManualClock
from renkei.connectors.connections import create_connection
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.flows.service import create_flow, list_runs
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.sandbox import serve_in_thread
from renkei.sandbox._base import VendorSandbox
from renkei.sandbox.braze import DEFAULT_API_KEY as BRAZE_KEY
from renkei.sandbox.braze import BrazeSandbox, BrazeSandboxConfig
from renkei.sandbox.klaviyo import DEFAULT_API_KEY as KLAVIYO_KEY
from renkei.sandbox.klaviyo import KlaviyoSandbox, KlaviyoSandboxConfig
from renkei.sandbox.mailchimp import DEFAULT_API_KEY as MAILCHIMP_KEY
from renkei.sandbox.mailchimp import DEFAULT_LIST_ID, MailchimpSandbox, MailchimpSandboxConfig
from renkei.sandbox.slack import DEFAULT_WEBHOOK_PATH, SlackSandbox, SlackSandboxConfig
from tests.support.server import test_settings as hub_settings

from .harness import START
from .test_http_generic import TOKEN, PointsSystem

pytestmark = pytest.mark.timeout(120)
S = TypeVar("S", bound=VendorSandbox[Any])


class Bench:
    def __init__(self, hub: Hub, clock: ManualClock) -> None:
        self.hub = hub
        self.clock = clock

    async def connect(
        self, name: str, connector: str, config: dict[str, Any], credentials: dict[str, str]
    ) -> None:
        async with self.hub.database.transaction() as tx:
            await create_connection(
                tx,
                keyring=self.hub.keyring,
                registry=self.hub.connectors.registry,
                now=self.clock.now(),
                name=name,
                connector=connector,
                config=config,
                credentials=credentials,
            )

    async def flow(self, spec: dict[str, Any]) -> str:
        async with self.hub.database.transaction() as tx:
            return (await create_flow(self.hub, tx, {"name": new_id("f"), **spec})).id

    async def emit(self, event_type: str = "track", name: str | None = None, **fields: Any) -> None:
        now = self.clock.now()
        event = Event(
            id=fields.pop("id", new_id("evt")),
            type=event_type,
            name=name,
            data=fields.pop("data", {}),
            occurred_at=now,
            received_at=now,
            source_id="src_app",
            **fields,
        )
        async with self.hub.database.transaction() as tx:
            await record_events(self.hub, tx, [event])

    async def drive(self, rounds: int = 200) -> None:
        """Run due jobs, then move the clock to the next one, until nothing is left."""
        from sqlalchemy import func, select

        from renkei.store.tables import jobs

        worker = self.hub.new_worker(run_schedules=False)
        for _ in range(rounds):
            await worker.run_burst()
            async with self.hub.database.read() as connection:
                due = (
                    await connection.execute(
                        select(func.min(jobs.c.run_at)).where(jobs.c.status == "scheduled")
                    )
                ).scalar()
            if due is None:
                return
            self.clock.set(max(due, self.clock.now()))
        raise AssertionError("the work did not finish")

    async def runs(self, flow_id: str) -> list[dict[str, Any]]:
        async with self.hub.database.read() as connection:
            return list(await list_runs(connection, flow_id, limit=100))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def bench(database_url: str, clock: ManualClock) -> AsyncIterator[Bench]:
    settings = hub_settings(
        database_url,
        connector_max_wait_seconds=0.0,
        connector_batch_wait_seconds=1.0,
        retry_schedule="5,5,5",
        retry_jitter=0,
    )
    hub = Hub(settings, clock=clock)
    yield Bench(hub, clock)
    await hub.flows.close()
    await hub.webhooks.close()
    await hub.database.dispose()


@contextlib.contextmanager
def served(sandbox: S) -> Iterator[tuple[S, str]]:
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url


async def test_study_mode_sets_a_braze_attribute_once_per_user_and_mode(
    bench: Bench, clock: ManualClock
) -> None:
    """Braze/Quizlet: the DESIGN's flow, with no re-eligibility per user and mode."""
    with served(BrazeSandbox(BrazeSandboxConfig(), clock)) as (sandbox, base):
        await bench.connect("braze", "braze", {"instance_url": base}, {"api_key": BRAZE_KEY})
        flow_id = await bench.flow(
            {
                "trigger": {
                    "event_types": ["track"],
                    "names": ["Study Mode Selected"],
                    "filter": {
                        "data.properties.mode": {"$in": ["flashcards", "learn", "test", "match"]}
                    },
                },
                "reeligibility": {
                    "mode": "once",
                    "key": "{{ event.user_id }}:{{ event.data.properties.mode }}",
                },
                "steps": [
                    {
                        "id": "body",
                        "template": {
                            "format": "json",
                            "source": '{"attributes": [{"external_id": "{{ event.user_id }}",'
                            ' "used_{{ event.data.properties.mode }}": true}]}',
                        },
                    },
                    {
                        "id": "send",
                        "action": {
                            "connector": "braze",
                            "operation": "users_track",
                            "input": "{{ steps.body }}",
                        },
                    },
                ],
            }
        )
        for user, mode in [
            ("u1", "learn"),
            ("u1", "learn"),
            ("u1", "test"),
            ("u2", "learn"),
            ("u3", "nap"),
        ]:
            await bench.emit(
                name="Study Mode Selected", user_id=user, data={"properties": {"mode": mode}}
            )
        await bench.drive()
    assert sandbox.track_requests == 3
    assert sandbox.user("u1").attributes == {"used_learn": True, "used_test": True}  # type: ignore[union-attr]
    assert sandbox.user("u2").attributes == {"used_learn": True}  # type: ignore[union-attr]
    assert sandbox.user("u3") is None
    assert sandbox.violations == []
    statuses = sorted(run["status"] for run in await bench.runs(flow_id))
    assert statuses == ["skipped", "succeeded", "succeeded", "succeeded"]  # u1/learn again


async def test_form_contact_to_the_mailing_list(bench: Bench, clock: ManualClock) -> None:
    """Playbook 1: a form submission subscribes the contact, tagged with the form."""
    with served(MailchimpSandbox(MailchimpSandboxConfig(), clock)) as (sandbox, base):
        await bench.connect(
            "newsletter",
            "mailchimp",
            {"api_base_url": f"{base}/3.0", "list_id": DEFAULT_LIST_ID},
            {"api_key": MAILCHIMP_KEY},
        )
        await bench.flow(
            {
                "trigger": {"event_types": ["form.surveycake_submitted"]},
                "steps": [
                    {
                        "id": "member",
                        "template": {
                            "source": '{"email_address": "{{ event.email }}", "status_if_new": "subscribed",'
                            ' "merge_fields": {"FNAME": "{{ event.data.first_name }}"},'
                            ' "tags": ["form:{{ event.data.form }}"]}'
                        },
                    },
                    {
                        "id": "subscribe",
                        "action": {
                            "connector": "newsletter",
                            "operation": "upsert_member",
                            "input": "{{ steps.member }}",
                        },
                    },
                ],
            }
        )
        await bench.emit(
            "form.surveycake_submitted",
            email="kim@example.com",
            data={"first_name": "Kim", "form": "demo-request"},
        )
        await bench.drive()
    member = sandbox.member("kim@example.com")
    assert member is not None and member.status == "subscribed"
    assert member.merge_fields == {"FNAME": "Kim"} and set(member.tags) == {"form:demo-request"}


async def test_notify_sales_about_a_hot_lead(bench: Bench, clock: ManualClock) -> None:
    """Playbook 4: a lead scored 80 or more posts to #sales; colder leads don't."""
    with served(SlackSandbox(SlackSandboxConfig(), clock)) as (sandbox, base):
        await bench.connect("sales", "slack", {}, {"webhook_url": base + DEFAULT_WEBHOOK_PATH})
        await bench.flow(
            {
                "trigger": {
                    "event_types": ["track"],
                    "names": ["Lead Scored"],
                    "filter": {"data.properties.score": {"$gte": 80}},
                },
                "steps": [
                    {
                        "id": "message",
                        "template": {
                            "source": '{"text": "Hot lead {{ event.email }} ({{ event.data.properties.score }})",'
                            ' "blocks": [{"type": "section", "text": {"type": "mrkdwn",'
                            ' "text": "*Hot lead* {{ event.email }}: score {{ event.data.properties.score }}"}}]}'
                        },
                    },
                    {
                        "id": "notify",
                        "action": {
                            "connector": "sales",
                            "operation": "post_message",
                            "input": "{{ steps.message }}",
                        },
                    },
                ],
            }
        )
        for email, score in [("a@example.com", 95), ("b@example.com", 40), ("c@example.com", 81)]:
            await bench.emit(name="Lead Scored", email=email, data={"properties": {"score": score}})
        await bench.drive()
    assert sorted(m.text or "" for m in sandbox.messages) == [
        "Hot lead a@example.com (95)",
        "Hot lead c@example.com (81)",
    ]
    assert sandbox.violations == []


async def test_personalised_email_after_a_user_action(bench: Bench, clock: ManualClock) -> None:
    """Playbook 2: an abandoned cart becomes a Klaviyo event (a Klaviyo flow emails on it),
    with the Renkei event id as unique_id so a retried step is not counted twice."""
    with served(KlaviyoSandbox(KlaviyoSandboxConfig(), clock)) as (sandbox, base):
        await bench.connect("klaviyo", "klaviyo", {"base_url": base}, {"api_key": KLAVIYO_KEY})
        await bench.flow(
            {
                "trigger": {"event_types": ["track"], "names": ["Cart Abandoned"]},
                "steps": [
                    {
                        "id": "event",
                        "template": {
                            "source": '{"metric": "Abandoned Cart", "unique_id": "{{ event.id }}",'
                            ' "profile": {"email": "{{ event.email }}"},'
                            ' "properties": {"items": {{ event.data.properties.items | json }}}}'
                        },
                    },
                    {
                        "id": "track",
                        "action": {
                            "connector": "klaviyo",
                            "operation": "create_event",
                            "input": "{{ steps.event }}",
                        },
                    },
                ],
            }
        )
        await bench.emit(
            name="Cart Abandoned",
            id="evt_cart_1",
            email="shopper@example.com",
            data={"properties": {"items": ["sku-1"]}},
        )
        await bench.drive()
    (event,) = sandbox.events
    assert (event.metric, event.unique_id, event.properties) == (
        "Abandoned Cart",
        "evt_cart_1",
        {"items": ["sku-1"]},
    )


async def test_award_points_for_behaviour_with_the_generic_http_connector(
    bench: Bench, clock: ManualClock
) -> None:
    """Playbook 6: a validated receipt credits loyalty points in an in-house system that
    no connector knows, configured with templates only; a replayed event credits once."""
    system = PointsSystem(clock)
    with serve_in_thread(system.app()) as base:
        await bench.connect(
            "points",
            "http",
            {
                "url": base + "/v1/users/{{ input.user_id }}/credits",
                "headers": {"Idempotency-Key": "{{ input.event_id }}"},
                "body": '{"points": {{ input.points | json }}, "reason": "{{ input.reason }}"}',
                "auth": {"type": "bearer"},
                "idempotent": True,
            },
            {"token": TOKEN},
        )
        await bench.flow(
            {
                "trigger": {"event_types": ["receipt.receipt_validated"]},
                "steps": [
                    {
                        "id": "credit",
                        "template": {
                            "source": '{"user_id": "{{ event.user_id }}", "event_id": "{{ event.id }}",'
                            ' "points": {{ event.data.amount | divided_by: 10 | floor | json }},'
                            ' "reason": "receipt {{ event.data.receipt_id }}"}'
                        },
                    },
                    {
                        "id": "award",
                        "action": {
                            "connector": "points",
                            "operation": "request",
                            "input": "{{ steps.credit }}",
                        },
                    },
                ],
            }
        )
        await bench.emit(
            "receipt.receipt_validated",
            id="evt_receipt_9",
            user_id="u-42",
            data={"receipt_id": "R-9", "amount": 154},
        )
        await bench.drive()
    assert system.credits == {
        "evt_receipt_9": {"user": "u-42", "points": 15, "reason": "receipt R-9", "id": "cr_1"}
    }
