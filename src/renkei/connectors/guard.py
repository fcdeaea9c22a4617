"""The SSRF guard for connector calls: the one target policy (``egress/ssrf.py``)
applied to every request a connection makes.

A connection's base URL is the user's to set (a Marketo instance, a self-hosted endpoint
of the generic HTTP connector), so without a guard it could point Renkei at internal
services. :class:`GuardedTransport` resolves the host itself, keeps the addresses the
policy allows, and connects to one of those by address (the TLS name and the ``Host``
header stay the host's), so a name that resolves elsewhere a moment later (DNS
rebinding) changes nothing. Loopback and private networks pass with
``RENKEI_ALLOW_PRIVATE_TARGETS``, cloud metadata addresses only if their network is in
``RENKEI_ALLOWED_TARGET_NETWORKS``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

from renkei.egress.errors import TargetRefused
from renkei.egress.ssrf import TargetPolicy

__all__ = ["GuardedTransport", "TargetRefused"]


class GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: TargetPolicy, inner: httpx.AsyncBaseTransport) -> None:
        self._policy = policy
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        self._policy.check_scheme(url.scheme)
        host = url.host
        addresses = await self._allowed_addresses(host, url.port)
        if addresses == [host]:
            return await self._inner.handle_async_request(request)
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        for index, address in enumerate(addresses):  # in resolver order, as a browser would
            request.url = url.copy_with(host=address)
            try:
                return await self._inner.handle_async_request(request)
            except httpx.ConnectError:
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable")

    async def _allowed_addresses(self, host: str, port: int | None) -> list[str]:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            self._policy.check_address(host)
            return [host]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port or 443, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        return self._policy.allowed_addresses(host, addresses)

    async def aclose(self) -> None:
        await self._inner.aclose()
