"""The SSRF guard on connector calls: a connection's base URL is the user's to set, so
calls go only where the deliveries' target policy allows (a real server on loopback)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from renkei.connectors.errors import ConfigurationError
from renkei.connectors.http import ConnectorHTTP
from renkei.egress.ssrf import TargetPolicy
from tests.flows.receivers import Receiver, receiver


def client(base_url: str, policy: TargetPolicy) -> ConnectorHTTP:
    return ConnectorHTTP(base_url, connector="http", connection="guarded", policy=policy)


@pytest.fixture
def server() -> Iterator[Receiver]:
    with receiver() as state:
        state.answer("/ping", (200, {"ok": True}))
        yield state


async def test_loopback_base_urls_are_refused_by_default(server: Receiver) -> None:
    for base in (server.url, server.url.replace("127.0.0.1", "localhost")):
        async with client(base, TargetPolicy()) as http:
            with pytest.raises(ConfigurationError) as refused:
                await http.request("GET", "/ping", operation="ping")
        assert refused.value.code == "target_refused"
        assert "loopback" in refused.value.message
    assert server.requests == []


async def test_allowed_private_targets_are_reached_by_address_with_the_host_kept(
    server: Receiver,
) -> None:
    base = server.url.replace("127.0.0.1", "localhost")
    async with client(base, TargetPolicy(allow_private=True)) as http:
        response = await http.request("GET", "/ping", operation="ping")
    assert response.json() == {"ok": True}
    [request] = server.requests
    assert request.headers["host"].startswith("localhost:")


async def test_metadata_addresses_need_an_explicitly_allowed_network() -> None:
    async with client("http://169.254.169.254", TargetPolicy(allow_private=True)) as http:
        with pytest.raises(ConfigurationError, match="cloud metadata"):
            await http.request("GET", "/latest/meta-data/", operation="ping")


async def test_an_allowed_network_opens_loopback_without_opening_everything(
    server: Receiver,
) -> None:
    policy = TargetPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    async with client(server.url, policy) as http:
        response = await http.request("GET", "/ping", operation="ping")
    assert response.status_code == 200
    async with client("http://10.0.0.1", policy) as http:
        with pytest.raises(ConfigurationError, match="private"):
            await http.request("GET", "/ping", operation="ping")


async def test_an_environment_proxy_does_not_carry_calls_around_the_policy(
    server: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The "proxy" is the loopback server itself: a call sent through it would be answered.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("ALL_PROXY", server.url)
    async with client(server.url, TargetPolicy()) as http:
        with pytest.raises(ConfigurationError) as refused:
            await http.request("GET", "/ping", operation="ping")
    assert refused.value.code == "target_refused"
    assert server.requests == []
