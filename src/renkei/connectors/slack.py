"""Slack incoming webhooks: post a message (text and/or Block Kit blocks) to one channel.

Contract (docs.slack.dev/messaging/sending-messages-using-incoming-webhooks, and the 2016
"changes to errors for incoming webhooks" note): ``POST`` JSON to the webhook URL; success
is HTTP 200 with the text ``ok``; failures are a status and a short text code: 400
``invalid_payload`` / ``no_text`` / ``invalid_blocks`` / ``user_not_found``, 403
``action_prohibited`` / ``invalid_token``, 404 ``channel_not_found`` / ``no_service``
(the webhook was revoked) / ``no_team``, 410 ``channel_is_archived``, 500 ``rollup_error``,
and 429 with ``Retry-After`` above about one message per second per webhook.

The webhook URL is the credential: its last path segment is a secret. Requests are logged
with that segment replaced; a small transport puts the real path back on the wire.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from renkei.connectors.errors import ConfigurationError, ConnectorError, PermanentError
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    OpenOptions,
    Operation,
    OperationResult,
    RateLimitSpec,
    RecordOk,
)
from renkei.egress.transport import EgressPools

__all__ = ["MAX_BLOCKS", "SlackConnector", "split_webhook_url"]

MAX_BLOCKS = 50
_MASK = "redacted"
# Codes that mean the webhook itself is unusable: a human has to fix or replace it.
_BROKEN_WEBHOOK = frozenset(
    {
        "no_service",
        "no_team",
        "invalid_token",
        "action_prohibited",
        "channel_not_found",
        "channel_is_archived",
        "team_disabled",
    }
)

MESSAGE: dict[str, Any] = {
    "type": "object",
    "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}, {"required": ["attachments"]}],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "blocks": {"type": "array", "maxItems": MAX_BLOCKS, "items": {"type": "object"}},
        "attachments": {"type": "array", "items": {"type": "object"}},
        "thread_ts": {"type": "string"},
        "mrkdwn": {"type": "boolean"},
        "unfurl_links": {"type": "boolean"},
        "unfurl_media": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def split_webhook_url(url: str) -> tuple[str, str, str]:
    """``(origin, real path, masked path)`` of a webhook URL; the masked path keeps
    everything but the secret last segment."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError("the Slack webhook_url is not an http(s) URL", code="invalid_url")
    path = parsed.path.rstrip("/")
    head, _, secret = path.rpartition("/")
    if not secret:
        raise ConfigurationError("the Slack webhook_url has no path", code="invalid_url")
    origin = str(parsed.copy_with(path="/", query=None, fragment=None)).rstrip("/")
    return origin, path, f"{head}/{_MASK}"


class _RealPath(httpx.AsyncBaseTransport):
    """Sends a request for the masked path to the real webhook path."""

    def __init__(self, inner: httpx.AsyncBaseTransport, masked: str, real: str) -> None:
        self._inner = inner
        self._masked = masked
        self._real = real

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # httpx gives the base URL a trailing slash; the webhook has none.
        if request.url.path.rstrip("/") == self._masked:
            request = httpx.Request(
                request.method,
                request.url.copy_with(path=self._real),
                headers=request.headers,
                content=request.content,
                extensions=request.extensions,
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class SlackConnector(Connector):
    spec = ConnectorSpec(
        name="slack",
        title="Slack (incoming webhook)",
        docs_url="https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks",
        credentials=(
            Field(
                "webhook_url",
                "Incoming webhook URL (https://hooks.slack.com/services/T…/B…/…)",
                secret=True,
            ),
        ),
        operations=(
            Operation(
                "post_message",
                "Post a message (text, Block Kit blocks up to 50, or attachments) to the "
                "webhook's channel",
                MESSAGE,
            ),
        ),
        rate_limit=RateLimitSpec(calls=1, per_seconds=1.0),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "about one message per second per webhook; 429 with Retry-After is honoured",
        "one message per request (no batching); at most 50 blocks per message",
    )

    _origin: str = ""
    _masked_path: str = ""

    def base_url(self, config: Mapping[str, Any]) -> str:
        # Operations post to the base URL itself (""): the webhook, its secret masked.
        return self._origin + self._masked_path

    def prepare(self, connection: Connection, options: OpenOptions) -> tuple[Connector, Connection]:
        """Aim at the webhook without logging its secret."""
        self.spec.check_settings(connection.credentials, connection.config)
        origin, real, masked = split_webhook_url(connection.credentials["webhook_url"])
        bound = copy.copy(self)
        bound._origin, bound._masked_path = origin, masked
        inner = options.transport or EgressPools(shared=False)
        options.transport = _RealPath(inner, masked, real)
        return bound, connection

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        status = response.status_code
        if status < 300 or status == 429 or status >= 500:
            return None  # the default mapping: success, rate limited, retryable
        code = response.text.strip()[:60] or str(status)
        message = f"Slack webhook answered HTTP {status} {code}"
        if code in _BROKEN_WEBHOOK or status in (401, 403, 404, 410):
            return ConfigurationError(message, code=code, status_code=status)
        return PermanentError(message, code=code, status_code=status)

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """An empty payload: a live webhook answers 400 ``no_text`` and posts nothing; a
        revoked one answers 404 ``no_service`` (a ConfigurationError)."""
        try:
            await ctx.http.request("POST", "", operation="test", json={})
        except ConfigurationError:
            raise
        except PermanentError as exc:
            if exc.code not in ("no_text", "invalid_payload"):
                raise
        return {"webhook": "live"}

    async def post_message(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        response = await ctx.http.request("POST", "", operation="post_message", json=dict(input))
        return OperationResult(records=(RecordOk(0, status=response.text.strip() or "ok"),))
