"""The Slack connector against the Slack incoming-webhook sandbox over loopback HTTP."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog

from renkei.connectors import CallContext, ConfigurationError, PermanentError
from renkei.connectors.slack import SlackConnector, split_webhook_url
from renkei.expr import compile_template
from renkei.sandbox.slack import (
    DEFAULT_CHANNEL,
    DEFAULT_WEBHOOK_PATH,
    SlackSandbox,
    SlackSandboxConfig,
)

from .conftest import RecordingClock
from .vendor_support import calls, open_ctx, serve

connector = SlackConnector()
SECRET = DEFAULT_WEBHOOK_PATH.rsplit("/", 1)[1]


@dataclass
class Slack:
    sandbox: SlackSandbox
    url: str
    clock: RecordingClock

    def open(self, *, path: str = DEFAULT_WEBHOOK_PATH, **kw: Any) -> CallContext:
        return open_ctx(connector, self.clock, credentials={"webhook_url": self.url + path}, **kw)


Start = Callable[..., Slack]


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def slack(clock: RecordingClock) -> Iterator[Start]:
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> Slack:
            sandbox = SlackSandbox(SlackSandboxConfig(**config), clock)
            return Slack(sandbox, serve(stack, sandbox), clock)

        yield start


def test_the_webhook_secret_is_split_off() -> None:
    origin, real, masked = split_webhook_url("https://hooks.slack.com/services/T1/B2/s3cr3t")
    assert (origin, real, masked) == (
        "https://hooks.slack.com",
        "/services/T1/B2/s3cr3t",
        "/services/T1/B2/redacted",
    )
    with pytest.raises(ConfigurationError):
        split_webhook_url("ftp://hooks.slack.com/x")


async def test_a_revoked_webhook_is_a_clear_permanent_configuration_error(slack: Start) -> None:
    s = slack()
    async with s.open(path="/services/T00000000/B00000000/revoked") as ctx:
        with pytest.raises(ConfigurationError) as raised:
            await connector.call("post_message", {"text": "hi"}, ctx)
    assert raised.value.code == "no_service" and raised.value.status_code == 404
    assert "revoked" not in str(raised.value)
    assert len(s.sandbox.requests) == 1 and s.sandbox.messages == []


async def test_text_and_blocks_are_posted_without_logging_the_secret(slack: Start) -> None:
    s = slack()
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*New lead*"}}]
    with structlog.testing.capture_logs() as logs:
        async with s.open() as ctx:
            first = await connector.call("post_message", {"text": "hello"}, ctx)
            second = await connector.call(
                "post_message", {"text": "fallback", "blocks": blocks}, ctx
            )
            # What the HTTP layer sees, and so logs and puts in errors: the masked URL.
            raw = await ctx.http.request("POST", "", operation="raw", json={"text": "third"})
    assert first.ok and first.records[0].status == "ok" and second.ok
    assert [(m.channel, m.text) for m in s.sandbox.messages] == [
        (DEFAULT_CHANNEL, "hello"),
        (DEFAULT_CHANNEL, "fallback"),
        (DEFAULT_CHANNEL, "third"),
    ]
    assert s.sandbox.messages[1].blocks == blocks
    assert all(c.path == DEFAULT_WEBHOOK_PATH for c in s.sandbox.requests)
    assert SECRET not in str(raw.request.url) and raw.request.url.path.endswith("/redacted/")
    assert SECRET not in json.dumps(logs, default=str)  # empty if logging is configured away


async def test_about_one_message_a_second(slack: Start, clock: RecordingClock) -> None:
    s = slack()
    started = clock.time()
    async with s.open() as ctx:
        for n in range(5):
            assert (await connector.call("post_message", {"text": f"m{n}"}, ctx)).ok
    assert len(s.sandbox.messages) == 5
    assert s.sandbox.violations == []
    assert clock.time() - started >= 4


async def test_429_waits_for_retry_after_and_5xx_backs_off(
    slack: Start, clock: RecordingClock
) -> None:
    s = slack()
    s.sandbox.fail_next(1, 429, headers={"Retry-After": "30"})
    s.sandbox.fail_next(1, 500)
    async with s.open() as ctx:
        assert (await connector.call("post_message", {"text": "retry me"}, ctx)).ok
    assert clock.sleeps[:2] == [30.0, 1.0]
    assert calls(s.sandbox, "POST", "/services/") == 3
    assert len(s.sandbox.messages) == 1


async def test_message_errors_are_permanent_and_named(slack: Start) -> None:
    s = slack(archived_channels=frozenset({DEFAULT_CHANNEL}))
    async with s.open() as ctx:
        with pytest.raises(PermanentError) as bad_blocks:
            await connector.call(
                "post_message", {"text": "x", "blocks": [{"text": "no type"}]}, ctx
            )
        with pytest.raises(ConfigurationError) as archived:
            await connector.call("post_message", {"text": "x"}, ctx)
        with pytest.raises(PermanentError, match="invalid input"):
            await connector.call("post_message", {"icon_emoji": ":x:"}, ctx)
    assert bad_blocks.value.code == "invalid_blocks" and not isinstance(
        bad_blocks.value, ConfigurationError
    )
    assert archived.value.code == "channel_is_archived"


async def test_playbook_notify_sales_about_a_hot_lead(slack: Start) -> None:
    """Seed playbook 4: a lead crossing a score posts a Block Kit message to #sales."""
    s = slack()
    template = compile_template(
        '{"text": "Hot lead: {{ profile.email }} (score {{ profile.score }})",'
        ' "blocks": [{"type": "section", "text": {"type": "mrkdwn",'
        ' "text": "*Hot lead* {{ profile.name }} <mailto:{{ profile.email }}>\\nScore: {{ profile.score }}"}},'
        ' {"type": "context", "elements": [{"type": "mrkdwn", "text": "via {{ event.type }}"}]}]}'
    )
    context = {
        "profile": {"name": 'Dana "DJ" Ito', "email": "dana@example.com", "score": 87},
        "event": {"type": "form.surveycake_submitted"},
    }
    async with s.open() as ctx:
        assert (await connector.call("post_message", template.render(context), ctx)).ok
    (message,) = s.sandbox.messages_in(DEFAULT_CHANNEL)
    assert message.text == "Hot lead: dana@example.com (score 87)"
    assert message.blocks is not None and 'Dana "DJ" Ito' in message.blocks[0]["text"]["text"]


async def test_test_call_posts_nothing(slack: Start) -> None:
    s = slack()
    async with s.open() as ctx:
        assert await connector.test_call(ctx) == {"webhook": "live"}
    assert s.sandbox.messages == []
    async with s.open(path="/services/T0/B0/gone") as ctx:
        with pytest.raises(ConfigurationError):
            await connector.test_call(ctx)
