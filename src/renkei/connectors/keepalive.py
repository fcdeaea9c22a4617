"""Keep-alive connections for connector calls, shared by every call a process makes.

Each call gets a client of its own (:class:`~renkei.connectors.http.ConnectorHTTP`: its
limits, auth and headers are the connection's), so without a shared transport every call
opened a new TCP connection and TLS session to the vendor. :class:`HostPools` is that
transport: the connector runtime hands it to every client, and calls to the same host reuse
idle connections.

There is one pool per host name, not per address: the SSRF guard
(``connectors/guard.py``) sends each request to an allowed address, with the host name kept
for TLS (SNI) and ``Host``. A pool keyed by address alone could hand a TLS session opened
for one host name to another that shares the address (two vendors behind one CDN).

Connections belong to the event loop that opened them: a hub used under a new loop (tests,
one-shot CLI runs) starts with new pools.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable

import httpx

__all__ = ["HostPools", "tls_context"]

PoolFactory = Callable[[], httpx.AsyncBaseTransport]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once per process: loading the CA bundle
    takes about 20 ms."""
    return httpx.create_ssl_context()


def _new_pool() -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(verify=tls_context())


class HostPools(httpx.AsyncBaseTransport):
    """A transport that keeps one connection pool per (scheme, host name, port).

    Clients borrow it: closing a client leaves the pools open. Their owner closes them
    with :meth:`close_pools`.
    """

    def __init__(self, new_pool: PoolFactory = _new_pool) -> None:
        self._new_pool = new_pool
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[str, str, int | None], httpx.AsyncBaseTransport] = {}

    @property
    def hosts(self) -> list[str]:
        """The host names that have a pool."""
        return [host for _, host, _ in self._pools]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool_for(request).handle_async_request(request)

    def _pool_for(self, request: httpx.Request) -> httpx.AsyncBaseTransport:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # The old loop's connections cannot be used, nor closed, from this one.
            self._loop, self._pools = loop, {}
        url = request.url
        host = request.extensions.get("sni_hostname") or url.host
        key = (url.scheme, str(host), url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = self._new_pool()
        return pool

    async def aclose(self) -> None:
        """Nothing: a client closing does not close the pools it borrowed."""

    async def close_pools(self) -> None:
        """Close every pool and its idle connections; later calls open new ones."""
        pools, self._pools = self._pools, {}
        if self._loop is not asyncio.get_running_loop():
            return
        for pool in pools.values():
            await pool.aclose()
