"""Which async HTTP client should send webhooks? Measure, don't guess.

Sends N POSTs with ~1 KB bodies to a fast local receiver on 127.0.0.1 (a raw
asyncio + httptools server in its own process, so the client gets a core to itself)
at a fixed concurrency, for each candidate client and event loop, and prints one JSON
object per run: requests/s, p50/p99 latency and the client process's CPU time per
request. CPU per request is the figure that matters: the delivery worker shares its
2 cores with the database work.

    .venv/bin/python bench/http_client.py                       # every installed client
    .venv/bin/python bench/http_client.py --n 5000 --clients aiohttp,renkei --loops uvloop

Traffic goes to 127.0.0.1 only; every run is bounded by --n.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue`` (which anyio, hence httpx, imports lazily on
# every call): keep this folder off the import path or httpx measures ~20x too slow.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import contextlib
import importlib.util
import json
import multiprocessing
import os
import socket
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
ALL_CLIENTS = ["httpx", "aiohttp", "aiosonic", "pyreqwest", "renkei"]  # also: httpcore


# -- receiver ---------------------------------------------------------------------------


class _Receiver(asyncio.Protocol):
    """HTTP/1.1 keep-alive server that answers every request with 200 and a tiny body."""

    _RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

    def __init__(self) -> None:
        import httptools

        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        assert self._transport is not None
        self._transport.write(self._RESPONSE)


def _serve(sock: socket.socket) -> None:
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Receiver, sock=sock, backlog=1024)
        await server.serve_forever()

    uvloop.run(main())


@contextlib.contextmanager
def receiver() -> Any:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    proc = multiprocessing.get_context("fork").Process(target=_serve, args=(sock,), daemon=True)
    proc.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        proc.terminate()
        proc.join(5)
        sock.close()


# -- candidate clients ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def httpx_client(concurrency: int) -> AsyncIterator[Post]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=15.0) as client:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            response = await client.post(url, content=body, headers=headers)
            return response.status_code

        yield post


@contextlib.asynccontextmanager
async def httpcore_client(concurrency: int) -> AsyncIterator[Post]:
    import httpcore

    async with httpcore.AsyncConnectionPool(max_connections=concurrency) as pool:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            response = await pool.request("POST", url, headers=headers, content=body)
            return response.status

        yield post


@contextlib.asynccontextmanager
async def aiohttp_client(concurrency: int) -> AsyncIterator[Post]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status

        yield post


@contextlib.asynccontextmanager
async def aiosonic_client(concurrency: int) -> AsyncIterator[Post]:
    import aiosonic
    from aiosonic.pools import PoolConfig

    connector = aiosonic.TCPConnector(pool_configs={":default": PoolConfig(size=concurrency)})
    async with aiosonic.HTTPClient(connector=connector) as client:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            response = await client.post(url, data=body, headers=headers)
            await response.content()
            return int(response.status_code)

        yield post
        await client.aclose()


@contextlib.asynccontextmanager
async def pyreqwest_client(concurrency: int) -> AsyncIterator[Post]:
    from pyreqwest.client import ClientBuilder

    builder = ClientBuilder().max_connections(concurrency).timeout(timedelta(seconds=15))
    async with builder.build() as client:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            response = await client.post(url).headers(headers).body_bytes(body).build().send()
            await response.bytes()
            return response.status

        yield post


@contextlib.asynccontextmanager
async def renkei_client(concurrency: int) -> AsyncIterator[Post]:
    """Renkei's own client: aiohttp plus connect-time SSRF checks and result capture."""
    from renkei.delivery.client import HttpClient
    from renkei.egress.ssrf import TargetPolicy, parse_networks

    policy = TargetPolicy(allowed_networks=parse_networks("127.0.0.0/8"))
    async with HttpClient(policy, max_connections=concurrency) as client:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
            result = await client.send(url, headers, body)
            if result.status is None:
                raise RuntimeError(result.error)
            return result.status

        yield post


CLIENTS: dict[str, tuple[str, Callable[[int], contextlib.AbstractAsyncContextManager[Post]]]] = {
    "httpx": ("httpx", httpx_client),
    "httpcore": ("httpcore", httpcore_client),
    "aiohttp": ("aiohttp", aiohttp_client),
    "aiosonic": ("aiosonic", aiosonic_client),
    "pyreqwest": ("pyreqwest", pyreqwest_client),
    "renkei": ("aiohttp", renkei_client),
}


# -- the run ----------------------------------------------------------------------------


async def _load(post: Post, url: str, n: int, concurrency: int) -> tuple[list[float], int]:
    body = json.dumps({"type": "bench.event", "data": {"pad": "x" * 960}}).encode()
    headers = {"content-type": "application/json", "webhook-id": "msg_bench"}
    latencies: list[float] = []
    errors = 0
    remaining = n

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            try:
                status = await post(url, body, headers)
            except Exception:
                status = 0
            latencies.append(time.perf_counter() - start)
            errors += status != 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


async def _run(name: str, url: str, n: int, concurrency: int) -> dict[str, Any]:
    async with CLIENTS[name][1](concurrency) as post:
        await _load(post, url, min(n, 2 * concurrency + 200), concurrency)  # warm the pool
        cpu, wall = time.process_time(), time.perf_counter()
        latencies, errors = await _load(post, url, n, concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": n,
        "errors": errors,
        "seconds": round(wall, 3),
        "requests_per_s": round(n / wall),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "cpu_us_per_request": round(cpu / n * 1e6, 1),
    }


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="requests per run (max 100000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--clients", default=",".join(ALL_CLIENTS))
    parser.add_argument("--loops", default="asyncio,uvloop")
    args = parser.parse_args()
    n = max(1, min(args.n, 100_000))
    names = [c for c in args.clients.split(",") if c]
    with receiver() as url:
        for loop_name in args.loops.split(","):
            for name in names:
                if importlib.util.find_spec(CLIENTS[name][0]) is None:
                    print(json.dumps({"client": name, "skipped": "not installed"}), flush=True)
                    continue
                with asyncio.Runner(loop_factory=_loop_factory(loop_name)) as runner:
                    figures = runner.run(_run(name, url, n, args.concurrency))
                row = {"client": name, "loop": loop_name, "concurrency": args.concurrency}
                print(json.dumps(row | figures), flush=True)
    print(json.dumps({"cpus": os.cpu_count(), "python": sys.version.split()[0]}), flush=True)


if __name__ == "__main__":
    main()
