"""Connector calls on the egress session: an httpx transport whose wire is aiohttp.

Connectors speak ``httpx.Request`` and ``httpx.Response`` (auth strategies, pagination and
vendors' error hooks are written against them, and tests swap in ``httpx.MockTransport``),
but every call goes out through :func:`~renkei.egress.session.policy_session`, the aiohttp
session webhook deliveries and flow actions use: one client library, the SSRF policy checked
at connect time after DNS, and about a tenth of httpx's CPU per request (docs/benchmarks.md,
"One HTTP client"). A request names the policy its connections must pass in its
:data:`TARGET_POLICY` extension; without one, nothing is checked (SDK use outside a hub).

:class:`EgressPools` keeps one pooled session per event loop and policy. aiohttp pools
connections per (scheme, host name, port), so a TLS session opened for one name is never
handed to another name that shares its address (two vendors behind one CDN). Connections
belong to the loop that opened them: a hub used under a new loop (tests, one-shot CLI runs)
starts with new pools. A failure is classified by :func:`~renkei.egress.failures.describe`,
as a webhook attempt's is, and raised as the httpx error it means.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Mapping

import aiohttp
import httpx
from yarl import URL

from renkei.egress.errors import TargetRefused
from renkei.egress.failures import ErrorKind, Failure, describe
from renkei.egress.session import policy_session
from renkei.egress.ssrf import TargetPolicy

__all__ = ["TARGET_POLICY", "EgressPools", "tls_context"]

TARGET_POLICY = "renkei.target_policy"

Sessions = dict[TargetPolicy | None, aiohttp.ClientSession]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying context connectors have always used (certifi's CA bundle), built once
    per process: loading the bundle takes about 20 ms."""
    return httpx.create_ssl_context()


class EgressPools(httpx.AsyncBaseTransport):
    """An httpx transport over pooled aiohttp sessions, one per event loop and policy.

    ``shared=True`` (the connector runtime's): clients borrow it, closing a client leaves
    the pools open, and their owner closes them with :meth:`close_pools`. ``shared=False``:
    the pools close with the one client that owns them.
    """

    def __init__(
        self,
        *,
        limit: int = 100,
        ssl: ssl.SSLContext | bool | None = None,
        shared: bool = True,
    ) -> None:
        self._limit = limit
        self._ssl = ssl
        self._shared = shared
        # Kept per loop: a closed loop's sessions can be neither used nor closed, and
        # dropping them would only make aiohttp complain about unclosed sessions.
        self._sessions: dict[asyncio.AbstractEventLoop, Sessions] = {}
        self._hosts: dict[asyncio.AbstractEventLoop, dict[str, None]] = {}

    @property
    def hosts(self) -> list[str]:
        """The host names this loop's pools have called."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return []
        return list(self._hosts.get(loop, {}))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy: TargetPolicy | None = request.extensions.get(TARGET_POLICY)
        if policy is not None:
            policy.check_scheme(request.url.scheme)
        timeout = request.extensions.get("timeout")
        try:
            async with self._session(request.url.host, policy).request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=await request.aread() or None,
                allow_redirects=False,
                timeout=_timeout(timeout),
            ) as response:
                content = await response.read()
        except TargetRefused:
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            read = timeout.get("read") if isinstance(timeout, Mapping) else None
            raise _httpx_error(describe(exc, read), request) from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            content=content,  # still encoded: httpx decodes as the Content-Encoding says
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": _reason(response)},
        )

    async def aclose(self) -> None:
        """For a client's own pools, close them; borrowed ones stay open."""
        if not self._shared:
            await self.close_pools()

    async def close_pools(self) -> None:
        """Close this loop's sessions and their idle connections; later calls open new ones."""
        loop = asyncio.get_running_loop()
        self._hosts.pop(loop, None)
        for session in self._sessions.pop(loop, {}).values():
            await session.close()

    def _session(self, host: str, policy: TargetPolicy | None) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        self._hosts.setdefault(loop, {}).setdefault(host)
        sessions = self._sessions.setdefault(loop, {})
        session = sessions.get(policy)
        if session is None:
            session = sessions[policy] = policy_session(
                policy,
                limit=self._limit,
                ssl=tls_context() if self._ssl is None else self._ssl,
                auto_decompress=False,
            )
        return session


def _timeout(timeout: object) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts (``connect``, ``read``, ``write``, ``pool``) in aiohttp's
    terms; aiohttp has no write timeout."""
    if not isinstance(timeout, Mapping):
        return aiohttp.ClientTimeout(total=None)
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.get("pool"),
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
    )


def _httpx_error(failure: Failure, request: httpx.Request) -> httpx.TransportError:
    """The httpx error a failure means: connect errors are the ones that never sent a byte."""
    if failure.kind is ErrorKind.INVALID_REQUEST:
        return httpx.UnsupportedProtocol(failure.message, request=request)
    if failure.kind is ErrorKind.TIMEOUT:
        timed_out = httpx.ReadTimeout if failure.sent else httpx.ConnectTimeout
        return timed_out(failure.message, request=request)
    if not failure.sent:
        return httpx.ConnectError(failure.message, request=request)
    return httpx.ReadError(failure.message, request=request)


def _reason(response: aiohttp.ClientResponse) -> bytes:
    return (response.reason or "").encode("ascii", "replace")
