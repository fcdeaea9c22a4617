"""Outbound HTTP for flow actions that call an ad-hoc URL (GET a report, POST a body).

Requests go through the one SSRF guard (``egress/ssrf.py``): loopback, private and
link-local addresses are refused unless ``RENKEI_ALLOW_PRIVATE_TARGETS`` is on, cloud
metadata addresses unless their network is listed in ``RENKEI_ALLOWED_TARGET_NETWORKS``.
The session is the one deliveries use too (``egress.session.policy_session``): the check
runs in the resolver and again on each socket before it connects, on the addresses actually
connected to, so DNS rebinding cannot slip past it; no cookies are kept between calls.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from renkei.egress.errors import TargetRefused
from renkei.egress.failures import ErrorKind, describe
from renkei.egress.session import policy_session
from renkei.egress.ssrf import TargetPolicy
from renkei.observability import tracing
from renkei.settings import Settings

__all__ = ["HttpRequest", "HttpResponse", "HttpSender"]

BODY_LIMIT: Final = 256 * 1024
USER_AGENT: Final = "Renkei-Flows/1"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None

    def describe(self) -> dict[str, Any]:
        """As a run or a preview shows it (the caller redacts)."""
        body: Any = None
        if self.body is not None:
            text = self.body.decode("utf-8", "replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        return {"method": self.method, "url": self.url, "headers": self.headers, "body": body}


@dataclass(frozen=True)
class HttpResponse:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "headers": self.headers,
            "body": self.body,
            "error": self.error,
        }


class HttpSender:
    """One pooled session per event loop; ``send`` never raises for network trouble."""

    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self._policy = TargetPolicy.from_settings(settings)
        self._timeout = timeout
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = self._sessions[loop] = policy_session(self._policy, limit=128)
        return session

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            self._policy.check_url(request.url)
        except TargetRefused as exc:
            return HttpResponse(None, error=f"refused target: {exc}")
        headers = request.headers
        if tracing.ENABLED and (parent := tracing.traceparent()) is not None:
            headers = {**headers, "traceparent": parent}
        try:
            async with self._session().request(
                request.method,
                request.url,
                data=request.body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                raw = await response.content.read(BODY_LIMIT)
                return HttpResponse(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    _parse_body(raw, response.headers.get("content-type", "")),
                )
        except (TargetRefused, aiohttp.ClientError, OSError, TimeoutError) as exc:
            # Classified as a webhook attempt's failure is; a refusal after DNS included.
            failure = describe(exc, self._timeout)
            refused = "refused target: " if failure.kind is ErrorKind.POLICY else ""
            return HttpResponse(None, error=f"{refused}{failure.message}"[:1000])

    async def close(self) -> None:
        """Close this event loop's session (another loop's belongs to that loop)."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None and not session.closed:
            await session.close()


def _parse_body(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8", "replace")
    if "json" in content_type or text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
