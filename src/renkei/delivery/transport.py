"""The HTTP side of a delivery as the delivery services see it: ``send`` → :class:`Response`.

Backed by :class:`renkei.delivery.client.HttpClient` (connect-time SSRF checks, 20 KB body
excerpt); one client per event loop, built from the settings' target policy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from renkei.delivery.client import AttemptResult, HttpClient
from renkei.egress.failures import ErrorKind
from renkei.egress.ssrf import TargetPolicy
from renkei.settings import Settings

__all__ = ["HttpTransport", "Response", "Transport", "transport_from_settings"]


@dataclass(frozen=True)
class Response:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    duration_ms: float = 0.0
    error: str | None = None
    timed_out: bool = False
    result: AttemptResult | None = None
    """The client's own record of the attempt (None when nothing was sent)."""


class Transport(Protocol):
    async def send(
        self, url: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> Response: ...

    async def close(self) -> None: ...


class HttpTransport:
    def __init__(self, policy: TargetPolicy, *, max_connections: int = 256) -> None:
        self.policy = policy
        self._max_connections = max_connections
        self._clients: dict[asyncio.AbstractEventLoop, HttpClient] = {}

    def _client(self) -> HttpClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = HttpClient(self.policy, max_connections=self._max_connections)
            self._clients[loop] = client
        return client

    async def send(
        self, url: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> Response:
        result = await self._client().send(url, headers, body, timeout)
        return Response(
            status=result.status,
            headers=result.response_headers,
            body=result.body.decode("utf-8", "replace"),
            duration_ms=result.duration_ms,
            error=result.error,
            timed_out=result.error_kind is ErrorKind.TIMEOUT,
            result=result,
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


def transport_from_settings(settings: Settings) -> HttpTransport:
    return HttpTransport(TargetPolicy.from_settings(settings, https_only=settings.https_only))
