"""A local Slack incoming-webhook endpoint, as Slack documents it.

``POST /services/T…/B…/…`` with a JSON body (or the legacy ``payload=`` form field) posts
a message to the webhook's channel and answers ``200 ok``. Failures are a status and a
short text code: 400 ``invalid_payload`` / ``no_text`` / ``invalid_blocks``, 404
``no_service`` for an unknown or revoked webhook, 410 ``channel_is_archived``, and 429
``rate_limited`` with ``Retry-After`` past ``rate_limit`` messages per
``rate_window_seconds`` on one webhook (recorded as a violation).

    sandbox = create_slack_app(SlackSandboxConfig(), clock)
    with serve_in_thread(sandbox.app) as base_url:
        webhook_url = base_url + DEFAULT_WEBHOOK_PATH
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import PlainTextResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import VendorSandbox, up
from renkei.sandbox._common import Call, SlidingWindow, ViolationKind, content_type

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_WEBHOOK_PATH",
    "SlackMessage",
    "SlackSandbox",
    "SlackSandboxConfig",
    "create_slack_app",
]

DEFAULT_WEBHOOK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
DEFAULT_CHANNEL = "#sales"


@dataclass(frozen=True)
class SlackSandboxConfig:
    # Webhook path → channel it posts to.
    webhooks: Mapping[str, str] = field(
        default_factory=lambda: {DEFAULT_WEBHOOK_PATH: DEFAULT_CHANNEL}
    )
    archived_channels: frozenset[str] = frozenset()
    rate_limit: int = 1
    rate_window_seconds: float = 1.0
    max_blocks: int = 50
    max_text_chars: int = 40_000


@dataclass(frozen=True)
class SlackMessage:
    channel: str
    text: str | None
    blocks: list[Any] | None
    attachments: list[Any] | None
    at: datetime
    thread_ts: str | None = None


class SlackSandbox(VendorSandbox[SlackSandboxConfig]):
    def __init__(self, config: SlackSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.messages: list[SlackMessage] = []
        self._windows: dict[str, SlidingWindow] = {}

    def connection_help(self, base_url: str) -> str:
        hooks = "\n".join(
            f"  webhook_url: {base_url}{path}  → {channel}"
            for path, channel in self.config.webhooks.items()
        )
        return f"Slack incoming-webhook sandbox at {base_url}\n{hooks}"

    def messages_in(self, channel: str) -> list[SlackMessage]:
        return [m for m in self.messages if m.channel == channel]

    def fault_body(self, status: int) -> Any:
        return {429: "rate_limited", 500: "rollup_error"}.get(status, "invalid_payload")

    async def handle(self, call: Call) -> Response:
        path = call.path.rstrip("/")
        channel = self.config.webhooks.get(path)
        if call.method != "POST" or channel is None:
            return _text(404, "no_service")
        window = self._windows.setdefault(
            path, SlidingWindow(self.config.rate_limit, self.config.rate_window_seconds)
        )
        now = self.clock.time()
        if window.is_full(now):
            self.violate(ViolationKind.RATE_LIMIT, "POST /services/…", f"webhook {path}")
            return _text(429, "rate_limited", {"Retry-After": str(up(window.retry_after(now)))})
        window.add(now)
        await self.admitted()
        payload = _payload(call)
        if not isinstance(payload, dict):
            return _text(400, "invalid_payload")
        text, blocks, attachments = (
            payload.get("text"),
            payload.get("blocks"),
            payload.get("attachments"),
        )
        if not text and not blocks and not attachments:
            return _text(400, "no_text")
        if blocks is not None and not _valid_blocks(blocks):
            return _text(400, "invalid_blocks")
        if isinstance(blocks, list) and len(blocks) > self.config.max_blocks:
            self.violate(ViolationKind.LIST_SIZE, "POST /services/…", f"{len(blocks)} blocks")
            return _text(400, "invalid_blocks")
        if text is not None and not isinstance(text, str):
            return _text(400, "invalid_payload")
        if channel in self.config.archived_channels:
            return _text(410, "channel_is_archived")
        self.messages.append(
            SlackMessage(
                channel=channel,
                text=text[: self.config.max_text_chars] if text else None,
                blocks=blocks,
                attachments=attachments,
                at=self.clock.now(),
                thread_ts=payload.get("thread_ts"),
            )
        )
        return _text(200, "ok")


def _payload(call: Call) -> Any:
    raw: bytes | str = call.body
    if content_type(call) == "application/x-www-form-urlencoded":
        fields = parse_qs(call.body.decode("utf-8", "replace"))
        raw = (fields.get("payload") or [""])[0]
    try:
        return json.loads(raw or "null")
    except ValueError:
        return None


def _valid_blocks(blocks: Any) -> bool:
    return isinstance(blocks, list) and all(
        isinstance(block, dict) and isinstance(block.get("type"), str) for block in blocks
    )


def _text(status: int, body: str, headers: Mapping[str, str] | None = None) -> Response:
    return PlainTextResponse(body, status_code=status, headers=dict(headers or {}))


def create_slack_app(
    config: SlackSandboxConfig | None = None, clock: Clock | None = None
) -> SlackSandbox:
    return SlackSandbox(config or SlackSandboxConfig(), clock or SystemClock())
