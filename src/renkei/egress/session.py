"""The aiohttp session every outbound request goes through, with the SSRF policy at connect time.

Every resolved address passes through :meth:`TargetPolicy.allowed_addresses` (a resolver
wrapper) and every socket is checked by :meth:`TargetPolicy.check_address` before it
connects (literal IPs skip the resolver), so the address checked is the address connected
to: DNS rebinding has no window. Webhook deliveries, flow HTTP actions and connector calls
(through ``transport.py``) all use it.
"""

from __future__ import annotations

import socket
import ssl

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult

from renkei.egress.ssrf import TargetPolicy

__all__ = ["PolicyResolver", "policy_session"]


def policy_session(
    policy: TargetPolicy | None,
    *,
    limit: int,
    resolver: AbstractResolver | None = None,
    ssl: ssl.SSLContext | bool = True,
    auto_decompress: bool = True,
) -> aiohttp.ClientSession:
    """An aiohttp session every connection of which passes ``policy``: resolved addresses
    are filtered (:class:`PolicyResolver`) and each socket is checked before it connects.
    A None policy checks nothing (the connector SDK used outside a hub).
    Call it with an event loop running (aiohttp binds the session to it)."""
    inner = resolver or aiohttp.DefaultResolver()
    connector = aiohttp.TCPConnector(
        limit=limit,
        resolver=inner if policy is None else PolicyResolver(policy, inner),
        socket_factory=None if policy is None else _policy_socket_factory(policy),
        ssl=ssl,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),  # targets must not see each other's cookies
        trust_env=False,  # an environment proxy would connect on our behalf, unchecked
        auto_decompress=auto_decompress,
    )


class PolicyResolver(AbstractResolver):
    """Resolves through ``inner`` and keeps only the addresses the policy allows."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = set(self._policy.allowed_addresses(host, [r["host"] for r in results]))
        return [r for r in results if r["host"] in allowed]

    async def close(self) -> None:
        await self._inner.close()


def _policy_socket_factory(policy: TargetPolicy) -> aiohttp.connector.SocketFactoryType:
    def create(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, address = addr_info
        policy.check_address(str(address[0]))
        return socket.socket(family, type_, proto)

    return create
