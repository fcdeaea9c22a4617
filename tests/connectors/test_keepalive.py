"""Keep-alive connections for connector calls: one pool per host name, shared by every
call's client, against real servers on loopback (plain HTTP and TLS)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from renkei.connectors.http import ConnectorHTTP
from renkei.egress.ssrf import TargetPolicy
from renkei.egress.transport import EgressPools
from renkei.hub import Hub
from renkei.sandbox import self_signed, serve_in_thread
from tests.connectors.harness import http_connection
from tests.support.server import test_settings as settings_for

LOOPBACK = TargetPolicy(allow_private=True)


@dataclass
class Peers:
    """Which client connection (its port) and ``Host`` each request came with."""

    seen: list[tuple[int, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        headers = dict(scope["headers"])
        self.seen.append((scope["client"][1], headers[b"host"].decode().split(":")[0]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"ok": true}'})

    @property
    def connections(self) -> int:
        return len({port for port, _ in self.seen})


@pytest.fixture
def peers() -> Peers:
    return Peers()


@pytest.fixture
def http_url(peers: Peers) -> Iterator[str]:
    with serve_in_thread(peers) as url:
        yield url


def client(base_url: str, transport: httpx.AsyncBaseTransport | None) -> ConnectorHTTP:
    """A call's client as the connector runtime makes it: guarded, on a borrowed transport."""
    return ConnectorHTTP(
        base_url, connector="http", connection="pooled", policy=LOOPBACK, transport=transport
    )


async def call_twice(base_url: str, transport: httpx.AsyncBaseTransport | None) -> None:
    """Two calls, each with a client of its own that is closed afterwards."""
    for _ in range(2):
        async with client(base_url, transport) as http:
            await http.request("GET", "/ping", operation="ping")


async def test_calls_with_clients_of_their_own_reuse_one_connection(
    peers: Peers, http_url: str
) -> None:
    pools = EgressPools()
    await call_twice(http_url, pools)
    assert len(peers.seen) == 2
    assert peers.connections == 1
    await pools.close_pools()


async def test_without_shared_pools_each_call_opens_a_connection(
    peers: Peers, http_url: str
) -> None:
    await call_twice(http_url, None)
    assert peers.connections == 2


async def test_closed_pools_close_their_connections_and_later_calls_open_new_ones(
    peers: Peers, http_url: str
) -> None:
    pools = EgressPools()
    await call_twice(http_url, pools)
    await pools.close_pools()
    assert pools.hosts == []
    await call_twice(http_url, pools)
    assert peers.connections == 2
    await pools.close_pools()


def test_a_new_event_loop_gets_new_pools(peers: Peers, http_url: str) -> None:
    pools = EgressPools()
    asyncio.run(call_twice(http_url, pools))
    # The first loop's connection is gone with its loop; a second loop must not reuse it.
    asyncio.run(call_twice(http_url, pools))
    assert len(peers.seen) == 4
    assert peers.connections == 2


async def test_tls_sessions_are_pooled_per_host_name_not_per_address(
    peers: Peers, tmp_path: Path
) -> None:
    tls = self_signed(tmp_path)
    pools = EgressPools(ssl=tls.client_context())
    with serve_in_thread(peers, tls=tls) as url:
        # Both names lead to 127.0.0.1: one pool, and one TLS session, for each name.
        await call_twice(url.replace("127.0.0.1", "localhost"), pools)
        await call_twice(url, pools)
        await pools.close_pools()
    by_name: dict[str, set[int]] = {}
    for client_port, host in peers.seen:
        by_name.setdefault(host, set()).add(client_port)
    assert {name: len(ports) for name, ports in by_name.items()} == {
        "localhost": 1,
        "127.0.0.1": 1,
    }
    assert peers.connections == 2


async def test_the_runtime_shares_its_pools_and_the_hub_closes_them_on_stop(
    database_url: str, peers: Peers, http_url: str
) -> None:
    hub = Hub(settings_for(database_url))
    runtime = hub.connectors.runtime
    row = await http_connection(hub, "pooled", url=f"{http_url}/ping", method="GET")
    closed: list[bool] = []
    hub.closers.append(_record(closed))
    for _ in range(2):
        await runtime.call(row, "request", {})
    assert len(peers.seen) == 2
    assert peers.connections == 1
    assert runtime.pools.hosts == ["127.0.0.1"]
    await hub.stop()
    assert runtime.pools.hosts == []
    assert closed == [True]


def _record(closed: list[bool]) -> Callable[[], Any]:
    async def close() -> None:
        closed.append(True)

    return close
