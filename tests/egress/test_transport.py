"""The egress transport connector calls go out through: httpx's requests and responses on
top, the aiohttp policy session on the wire, against real servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from renkei.backoff import Backoff
from renkei.connectors.errors import RetryableError
from renkei.connectors.http import ConnectorHTTP
from renkei.egress.errors import TargetRefused
from renkei.egress.ssrf import TargetPolicy
from renkei.egress.transport import TARGET_POLICY, EgressPools
from renkei.sandbox import serve_in_thread

LOOPBACK = TargetPolicy(allow_private=True)
ONCE = Backoff(attempts=1)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with what it got (method, query, headers, body), gzip-compressed."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    seen = {
        "method": scope["method"],
        "query": scope["query_string"].decode(),
        "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
        "body": body.decode(),
    }
    headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": gzip.compress(json.dumps(seen).encode())})


def connector(base_url: str, timeout: float = 30.0) -> ConnectorHTTP:
    return ConnectorHTTP(
        base_url,
        connector="http",
        connection="egress",
        policy=LOOPBACK,
        backoff=ONCE,
        timeout=timeout,
    )


async def test_a_call_arrives_as_built_and_its_compressed_answer_is_decoded_once() -> None:
    with serve_in_thread(echo) as url:
        async with connector(url) as http:
            response = await http.request(
                "POST",
                "/hook",
                operation="post",
                params={"page": 2},
                json={"name": "Ada"},
                headers={"X-Trace": "t-1"},
            )
    seen = response.json()
    assert seen["method"] == "POST" and seen["query"] == "page=2"
    assert json.loads(seen["body"]) == {"name": "Ada"}
    assert seen["headers"]["x-trace"] == "t-1"
    assert seen["headers"]["content-type"] == "application/json"


async def test_a_refused_connection_is_retryable_even_for_a_write_since_nothing_was_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with connector(f"http://127.0.0.1:{port}") as http:
        with pytest.raises(RetryableError) as failed:
            await http.request("POST", "/hook", operation="post", json={}, idempotent=False)
    assert failed.value.code == "connect"


async def test_an_answer_slower_than_the_read_timeout_is_a_timeout() -> None:
    with serve_in_thread(echo) as url:
        async with connector(url, timeout=0.2) as http:
            with pytest.raises(RetryableError) as failed:
                await http.request("GET", "/slow", operation="get")
    assert failed.value.code == "timeout"


async def test_the_policy_travels_with_the_request_and_is_checked_when_connecting() -> None:
    pools = EgressPools()
    with serve_in_thread(echo) as url:
        async with httpx.AsyncClient(transport=pools) as client:
            named = url.replace("127.0.0.1", "localhost")
            refused = client.build_request("GET", named, extensions={TARGET_POLICY: TargetPolicy()})
            with pytest.raises(TargetRefused, match="loopback"):
                await client.send(refused)
            allowed = client.build_request("GET", named, extensions={TARGET_POLICY: LOOPBACK})
            assert (await client.send(allowed)).status_code == 200
    assert pools.hosts == ["localhost"]
    await pools.close_pools()
    assert pools.hosts == []
