"""The webhook HTTP client against real servers on 127.0.0.1 (never any other address)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks.webhooks import Webhook

from renkei.delivery import (
    ErrorKind,
    HttpClient,
    OutcomeKind,
    build_headers,
    classify,
    generate_secret,
    serialize_payload,
)
from renkei.delivery.client import BODY_EXCERPT_BYTES
from renkei.egress.ssrf import TargetPolicy, parse_networks

LOOPBACK_OK = TargetPolicy(allow_private=True)
BODY = serialize_payload("form.surveycake_submitted", datetime(2026, 1, 1, tzinfo=UTC), {"a": 1})


@dataclass
class Receiver:
    port: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


RECEIVER = web.AppKey("receiver", Receiver)


async def _handle(request: web.Request) -> web.StreamResponse:
    receiver = request.app[RECEIVER]
    receiver.requests.append((request.path, dict(request.headers), await request.read()))
    match request.path:
        case "/redirect":
            return web.Response(status=302, headers={"Location": "/ok"})
        case "/big":
            return web.Response(body=b"x" * (BODY_EXCERPT_BYTES + 5000))
        case "/exact":
            return web.Response(body=b"y" * BODY_EXCERPT_BYTES)
        case "/hang":
            await asyncio.Event().wait()  # until the client gives up and the server cancels us
        case "/stall":
            response = web.StreamResponse()
            response.content_length = 1000
            await response.prepare(request)
            await response.write(b"z" * 100)
            await asyncio.Event().wait()
        case "/busy":
            return web.Response(status=429, headers={"Retry-After": "120"})
        case "/dup":
            response = web.Response(text="dup")
            response.headers.add("X-Dup", "a")
            response.headers.add("X-Dup", "b")
            return response
    return web.Response(text="ok", headers={"X-Receiver": "yes"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    app[RECEIVER] = state = Receiver()
    app.router.add_route("*", "/{tail:.*}", _handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = runner.addresses[0][1]
    yield state
    await runner.cleanup()


class FakeDNS(AbstractResolver):
    """Answers from a table; lets a test point a public-looking name at loopback."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.table:
            raise OSError(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                proto=0,
                flags=0,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
            )
            for address in self.table[host]
        ]

    async def close(self) -> None:
        pass


async def test_a_signed_attempt_is_recorded_and_verifies_with_each_rotated_key(
    receiver: Receiver,
) -> None:
    secrets = [generate_secret(), generate_secret()]
    headers = build_headers("evt_1", int(time.time()), BODY, secrets) | {"X-Tenant": "acme"}
    async with HttpClient(LOOPBACK_OK) as client:
        result = await client.send(f"{receiver.url}/hook", headers, BODY)

    assert result.status == 200
    assert result.error is None and result.error_kind is None
    assert result.body == b"ok" and not result.body_truncated
    assert result.response_headers["x-receiver"] == "yes"
    assert result.duration_ms > 0
    assert result.url == f"{receiver.url}/hook"
    assert result.request_headers["content-type"] == "application/json"
    assert result.request_headers["x-tenant"] == "acme"
    assert result.request_headers["webhook-signature"] == headers["webhook-signature"]

    ((path, got_headers, got_body),) = receiver.requests
    assert (path, got_body) == ("/hook", BODY)
    assert got_headers["User-Agent"].startswith("Renkei-Webhooks/")
    for secret in secrets:
        assert Webhook(secret).verify(got_body, got_headers)["type"] == "form.surveycake_submitted"


async def test_loopback_is_refused_at_connect_time_unless_allowed(receiver: Receiver) -> None:
    for url in (f"{receiver.url}/hook", f"http://localhost:{receiver.port}/hook"):
        async with HttpClient(TargetPolicy()) as client:
            result = await client.send(url, {}, BODY)
        assert result.status is None
        assert result.error_kind is ErrorKind.POLICY
        assert "refused by policy" in (result.error or "")
        assert "loopback" in (result.error or "")

        async with HttpClient(LOOPBACK_OK) as client:
            assert (await client.send(url, {}, BODY)).status == 200

    assert len(receiver.requests) == 2  # only the allowed attempts arrived


async def test_a_name_resolving_to_loopback_is_refused_and_a_cidr_opens_it(
    receiver: Receiver,
) -> None:
    dns = FakeDNS({"hooks.example.com": ["127.0.0.1"]})
    url = f"http://hooks.example.com:{receiver.port}/hook"
    async with HttpClient(TargetPolicy(), resolver=dns) as client:
        refused = await client.send(url, {}, BODY)
    assert refused.error == "hooks.example.com refused by policy: 127.0.0.1 is loopback"

    policy = TargetPolicy(allowed_networks=parse_networks("127.0.0.1/32"))
    async with HttpClient(policy, resolver=dns) as client:
        assert (await client.send(url, {}, BODY)).status == 200
    assert receiver.requests[0][1]["Host"] == f"hooks.example.com:{receiver.port}"


async def test_scheme_is_checked_before_anything_is_sent(receiver: Receiver) -> None:
    async with HttpClient(TargetPolicy(allow_private=True, https_only=True)) as client:
        result = await client.send(f"{receiver.url}/hook", {}, BODY)
        other = await client.send(f"ftp://127.0.0.1:{receiver.port}/", {}, BODY)
    assert result.error_kind is ErrorKind.POLICY and "only https" in (result.error or "")
    assert other.error_kind is ErrorKind.POLICY
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("url", "headers", "message"),
    [
        ("http://127.0.0.1:{port}/h", {"X-A": "b\r\nX-Injected: 1"}, "header x-a has a line break"),
        ("http://127.0.0.1:{port}/h", {"bad name": "v"}, "header 'bad name' is not a token"),
        ("http://[::1/h", {}, "the URL is malformed"),
        ("http://2130706433:{port}/h", {}, "the URL is malformed"),  # 127.0.0.1 in disguise
    ],
)
async def test_invalid_requests_are_reported_not_sent(
    receiver: Receiver, url: str, headers: dict[str, str], message: str
) -> None:
    async with HttpClient(LOOPBACK_OK) as client:
        result = await client.send(url.format(port=receiver.port), headers, BODY)
    assert result.error_kind is ErrorKind.INVALID_REQUEST
    assert result.error == f"invalid request: {message}"
    assert receiver.requests == []


async def test_redirects_are_reported_not_followed(receiver: Receiver) -> None:
    async with HttpClient(LOOPBACK_OK) as client:
        result = await client.send(f"{receiver.url}/redirect", {}, BODY)
    assert result.status == 302
    assert result.response_headers["location"] == "/ok"
    assert [path for path, _, _ in receiver.requests] == ["/redirect"]
    assert classify(result, now=datetime.now(UTC)).kind is OutcomeKind.RETRY


async def test_response_body_is_kept_up_to_20_kb(receiver: Receiver) -> None:
    async with HttpClient(LOOPBACK_OK) as client:
        big = await client.send(f"{receiver.url}/big", {}, BODY)
        exact = await client.send(f"{receiver.url}/exact", {}, BODY)
        after = await client.send(f"{receiver.url}/hook", {}, BODY)
    assert big.status == 200
    assert len(big.body) == BODY_EXCERPT_BYTES == 20 * 1024
    assert big.body_truncated
    assert len(exact.body) == BODY_EXCERPT_BYTES and not exact.body_truncated
    assert after.body == b"ok"


async def test_repeated_headers_are_joined(receiver: Receiver) -> None:
    async with HttpClient(LOOPBACK_OK) as client:
        result = await client.send(f"{receiver.url}/dup", {}, BODY)
    assert result.response_headers["x-dup"] == "a, b"


async def test_a_slow_receiver_times_out(receiver: Receiver) -> None:
    async with HttpClient(LOOPBACK_OK) as client:
        result = await client.send(f"{receiver.url}/hang", {}, BODY, timeout=0.3)
    assert result.status is None
    assert result.error_kind is ErrorKind.TIMEOUT
    assert result.error == "timeout: no complete response within 0.3 s"
    outcome = classify(result, now=datetime.now(UTC))
    assert (outcome.kind, outcome.retry_not_before_seconds) == (OutcomeKind.RETRY, 60.0)


async def test_a_body_that_stalls_after_the_status_keeps_the_status(receiver: Receiver) -> None:
    async with HttpClient(LOOPBACK_OK) as client:
        result = await client.send(f"{receiver.url}/stall", {}, BODY, timeout=0.3)
    assert (result.status, result.body, result.body_truncated) == (200, b"z" * 100, True)
    assert result.error is None


async def test_timeouts_are_capped_at_30_seconds() -> None:
    client = HttpClient(LOOPBACK_OK, default_timeout=120)
    assert client.default_timeout == 30
    with pytest.raises(ValueError):
        HttpClient(LOOPBACK_OK, default_timeout=0)


async def test_429_with_retry_after_is_captured_for_the_outcome(receiver: Receiver) -> None:
    async with HttpClient(LOOPBACK_OK) as client:
        result = await client.send(f"{receiver.url}/busy", {}, BODY)
    outcome = classify(result, now=datetime.now(UTC))
    assert (result.status, outcome.retry_not_before_seconds) == (429, 120)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    async with HttpClient(LOOPBACK_OK) as client:
        result = await client.send(f"http://127.0.0.1:{port}/hook", {}, BODY)
    assert result.error_kind is ErrorKind.CONNECTION_REFUSED
    assert result.error == f"connection refused by 127.0.0.1:{port}"


async def test_dns_failure() -> None:
    async with HttpClient(LOOPBACK_OK, resolver=FakeDNS({})) as client:
        result = await client.send("http://nowhere.example.com/hook", {}, BODY)
    assert result.error_kind is ErrorKind.DNS
    assert result.error == "DNS failure: cannot resolve nowhere.example.com"


async def test_tls_failure(receiver: Receiver) -> None:
    async with HttpClient(LOOPBACK_OK) as client:  # https to a plain-HTTP server
        result = await client.send(f"https://127.0.0.1:{receiver.port}/hook", {}, BODY)
    assert result.error_kind is ErrorKind.TLS
    assert (result.error or "").startswith("TLS error")


async def test_errors_do_not_echo_the_url() -> None:
    async with HttpClient(LOOPBACK_OK, resolver=FakeDNS({})) as client:
        result = await client.send("http://user:pw@nowhere.example.com/h?token=s3cret", {}, BODY)
    assert "s3cret" not in (result.error or "") and "pw" not in (result.error or "")


async def test_many_concurrent_attempts_share_the_pool(receiver: Receiver) -> None:
    async with HttpClient(LOOPBACK_OK, max_connections=8) as client:
        results = await asyncio.gather(
            *(client.send(f"{receiver.url}/hook/{i}", {}, BODY) for i in range(200))
        )
    assert {r.status for r in results} == {200}
    assert len(receiver.requests) == 200
