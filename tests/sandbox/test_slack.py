"""The Slack incoming-webhook sandbox through real HTTP on loopback."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from renkei.clock import ManualClock
from renkei.sandbox.slack import (
    DEFAULT_CHANNEL,
    DEFAULT_WEBHOOK_PATH,
    SlackSandbox,
    SlackSandboxConfig,
)

from .vendor_clients import client_for

Start = Callable[..., tuple[SlackSandbox, httpx.Client]]


@pytest.fixture
def slack(clock: ManualClock, exit_stack: contextlib.ExitStack) -> Start:
    def start(**config: Any) -> tuple[SlackSandbox, httpx.Client]:
        sandbox, client, _ = client_for(
            exit_stack, SlackSandbox(SlackSandboxConfig(**config), clock)
        )
        return sandbox, client

    return start


def test_a_message_is_ok(slack: Start) -> None:
    sandbox, http = slack()
    response = http.post(DEFAULT_WEBHOOK_PATH, json={"text": "hello"})
    assert (response.status_code, response.text) == (200, "ok")
    legacy = http.post(
        DEFAULT_WEBHOOK_PATH.rstrip("/"), data={"payload": json.dumps({"text": "form"})}
    )
    assert legacy.status_code == 429  # a second message within the second
    assert [m.text for m in sandbox.messages_in(DEFAULT_CHANNEL)] == ["hello"]


def test_errors_are_short_text_codes(slack: Start, clock: ManualClock) -> None:
    sandbox, http = slack(rate_limit=100)
    cases = [
        ("/services/T1/B1/unknown", {"text": "x"}, 404, "no_service"),
        (DEFAULT_WEBHOOK_PATH, {}, 400, "no_text"),
        (DEFAULT_WEBHOOK_PATH, {"blocks": [{"text": "no type"}]}, 400, "invalid_blocks"),
        (DEFAULT_WEBHOOK_PATH, {"blocks": [{"type": "divider"}] * 51}, 400, "invalid_blocks"),
    ]
    for path, body, status, code in cases:
        response = http.post(path, json=body)
        assert (response.status_code, response.text) == (status, code), body
    bad_json = http.post(
        DEFAULT_WEBHOOK_PATH, content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (bad_json.status_code, bad_json.text) == (400, "invalid_payload")
    assert [v.kind for v in sandbox.violations] == ["list_size"]
    assert sandbox.messages == []


def test_archived_channel(slack: Start) -> None:
    _, http = slack(archived_channels=frozenset({DEFAULT_CHANNEL}))
    response = http.post(DEFAULT_WEBHOOK_PATH, json={"text": "x"})
    assert (response.status_code, response.text) == (410, "channel_is_archived")


def test_more_than_a_message_a_second_is_429_and_recorded(slack: Start, clock: ManualClock) -> None:
    sandbox, http = slack()
    assert http.post(DEFAULT_WEBHOOK_PATH, json={"text": "1"}).status_code == 200
    refused = http.post(DEFAULT_WEBHOOK_PATH, json={"text": "2"})
    assert (refused.status_code, refused.text, refused.headers["Retry-After"]) == (
        429,
        "rate_limited",
        "1",
    )
    assert [v.kind for v in sandbox.violations] == ["rate_limit"]
    clock.advance(1)
    assert http.post(DEFAULT_WEBHOOK_PATH, json={"text": "2"}).status_code == 200
    assert [m.text for m in sandbox.messages] == ["1", "2"]
