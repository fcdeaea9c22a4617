"""Which async HTTP client should send webhooks? Measure, don't guess.

Sends N POSTs with ~1 KB bodies to a fast local receiver on 127.0.0.1 (a raw
asyncio + httptools server in its own process, so the client gets a core to itself)
at a fixed concurrency, for each candidate client and event loop, and prints one JSON
object per run: requests/s, p50/p99 latency and the client process's CPU time per
request. CPU per request is the figure that matters: the delivery worker shares its
2 cores with the database work.

``--workload json`` calls as connectors do instead: a JSON POST and a GET with query
parameters in turn, on kept-alive connections, the JSON answer parsed; ``--tls`` serves
HTTPS (a self-signed certificate the clients trust). ``--rounds R`` runs the clients
interleaved R times and ends with each one's medians, for a machine other work loads.

    .venv/bin/python bench/http_client.py                       # every installed client
    .venv/bin/python bench/http_client.py --n 5000 --clients aiohttp,renkei --loops uvloop
    .venv/bin/python bench/http_client.py --workload json --tls --rounds 5 --loops uvloop \
        --clients httpx,aiohttp,connector-httpx,connector-egress --concurrency 8

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
import ssl
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
Call = Callable[[int], Awaitable[int]]  # the n-th call of a connector-like workload → status
ALL_CLIENTS = ["httpx", "aiohttp", "aiosonic", "pyreqwest", "renkei"]  # also: httpcore


# -- receiver ---------------------------------------------------------------------------


class _Receiver(asyncio.Protocol):
    """HTTP/1.1 keep-alive server that answers every request with 200 and a tiny body."""

    _RESPONSE = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
        b'{"ok":true}'
    )

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


def _serve(sock: socket.socket, tls: ssl.SSLContext | None) -> None:
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Receiver, sock=sock, backlog=1024, ssl=tls)
        await server.serve_forever()

    uvloop.run(main())


@contextlib.contextmanager
def receiver(tls: ssl.SSLContext | None = None) -> Any:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    context = multiprocessing.get_context("fork")
    proc = context.Process(target=_serve, args=(sock, tls), daemon=True)
    proc.start()
    try:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        proc.terminate()
        proc.join(5)
        sock.close()


@contextlib.contextmanager
def certificate() -> Any:
    """A self-signed certificate for 127.0.0.1: the server's context and the clients'."""
    from renkei.sandbox import self_signed

    with tempfile.TemporaryDirectory() as workdir:
        files = self_signed(Path(workdir))
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(files.certificate, files.key)
        yield server, files.client_context()


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


# -- the same clients as connectors use them (--workload json) ---------------------------

PAYLOAD = {"type": "bench.event", "data": {"pad": "x" * 960}}
JsonClient = Callable[
    [str, int, ssl.SSLContext | None], contextlib.AbstractAsyncContextManager[Call]
]


@contextlib.asynccontextmanager
async def httpx_json(
    url: str, concurrency: int, verify: ssl.SSLContext | None
) -> AsyncIterator[Call]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=15.0, verify=verify or True) as client:

        async def call(n: int) -> int:
            if n % 2:
                response = await client.get(url, params={"page": n})
            else:
                response = await client.post(url, json=PAYLOAD)
            response.json()
            return response.status_code

        yield call


@contextlib.asynccontextmanager
async def aiohttp_json(
    url: str, concurrency: int, verify: ssl.SSLContext | None
) -> AsyncIterator[Call]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency, ssl=verify or True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(n: int) -> int:
            if n % 2:
                request = session.get(url, params={"page": n})
            else:
                request = session.post(url, json=PAYLOAD)
            async with request as response:
                await response.json()
                return response.status

        yield call


@contextlib.asynccontextmanager
async def connector_json(url: str, transport: Any) -> AsyncIterator[Call]:
    """A connector's own client (auth, limits, metrics, logs, error mapping) on ``transport``."""
    from renkei.connectors.http import ConnectorHTTP
    from renkei.egress.ssrf import TargetPolicy, parse_networks
    from renkei.observability.logging import configure_logging

    configure_logging("warning")
    policy = TargetPolicy(allowed_networks=parse_networks("127.0.0.0/8"))
    async with ConnectorHTTP(
        url, connector="bench", connection="bench", policy=policy, transport=transport
    ) as http:

        async def call(n: int) -> int:
            if n % 2:
                response = await http.request("GET", "", params={"page": n}, operation="get")
            else:
                response = await http.request("POST", "", json=PAYLOAD, operation="post")
            response.json()
            return response.status_code

        yield call


@contextlib.asynccontextmanager
async def connector_httpx(
    url: str, concurrency: int, verify: ssl.SSLContext | None
) -> AsyncIterator[Call]:
    """Connector calls on httpx's own transport, as connectors sent before issue 15."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = httpx.AsyncHTTPTransport(verify=verify or True, limits=limits)
    async with connector_json(url, transport) as call:
        yield call
    await transport.aclose()


@contextlib.asynccontextmanager
async def connector_egress(
    url: str, concurrency: int, verify: ssl.SSLContext | None
) -> AsyncIterator[Call]:
    """Connector calls on the egress transport (aiohttp), as connectors send since issue 15."""
    from renkei.egress.transport import EgressPools

    pools = EgressPools(limit=concurrency, ssl=verify or True)
    async with connector_json(url, pools) as call:
        yield call
    await pools.close_pools()


JSON_CLIENTS: dict[str, tuple[str, JsonClient]] = {
    "httpx": ("httpx", httpx_json),
    "aiohttp": ("aiohttp", aiohttp_json),
    "connector-httpx": ("httpx", connector_httpx),
    "connector-egress": ("aiohttp", connector_egress),
}


# -- the run ----------------------------------------------------------------------------


async def _load(call: Call, n: int, concurrency: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    remaining = n

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            try:
                status = await call(remaining)
            except Exception:
                status = 0
            latencies.append(time.perf_counter() - start)
            errors += status != 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


@contextlib.asynccontextmanager
async def _webhook_calls(name: str, url: str, concurrency: int) -> AsyncIterator[Call]:
    body = json.dumps({"type": "bench.event", "data": {"pad": "x" * 960}}).encode()
    headers = {"content-type": "application/json", "webhook-id": "msg_bench"}
    async with CLIENTS[name][1](concurrency) as post:
        yield lambda _: post(url, body, headers)


async def _run(
    calls: contextlib.AbstractAsyncContextManager[Call], n: int, concurrency: int
) -> dict[str, Any]:
    async with calls as call:
        await _load(call, min(n, 2 * concurrency + 200), concurrency)  # warm the pool
        cpu, wall = time.process_time(), time.perf_counter()
        latencies, errors = await _load(call, n, concurrency)
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


def _medians(rows: list[dict[str, Any]]) -> None:
    """One line per client and loop: the median of each figure over the rounds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["client"], row["loop"]), []).append(row)
    for (client, loop), runs in groups.items():
        figures = ("requests_per_s", "p50_ms", "p99_ms", "cpu_us_per_request")
        medians = {f: round(statistics.median(r[f] for r in runs), 2) for f in figures}
        line = {"median_of": len(runs), "client": client, "loop": loop} | medians
        print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="requests per run (max 100000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--clients", default=",".join(ALL_CLIENTS))
    parser.add_argument("--loops", default="asyncio,uvloop")
    parser.add_argument("--workload", choices=("webhook", "json"), default="webhook")
    parser.add_argument("--tls", action="store_true", help="HTTPS (json workload only)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (max 20)")
    args = parser.parse_args()
    n = max(1, min(args.n, 100_000))
    names = [c for c in args.clients.split(",") if c]
    table = JSON_CLIENTS if args.workload == "json" else CLIENTS
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        server_tls, client_tls = stack.enter_context(certificate()) if args.tls else (None, None)
        url = stack.enter_context(receiver(server_tls))
        for _ in range(max(1, min(args.rounds, 20))):
            for loop_name in args.loops.split(","):
                for name in names:
                    if importlib.util.find_spec(table[name][0]) is None:
                        print(json.dumps({"client": name, "skipped": "not installed"}))
                        continue
                    calls = (
                        JSON_CLIENTS[name][1](url, args.concurrency, client_tls)
                        if args.workload == "json"
                        else _webhook_calls(name, url, args.concurrency)
                    )
                    with asyncio.Runner(loop_factory=_loop_factory(loop_name)) as runner:
                        figures = runner.run(_run(calls, n, args.concurrency))
                    row = {"client": name, "loop": loop_name, "concurrency": args.concurrency}
                    row |= {"workload": args.workload, "tls": args.tls}
                    rows.append(row | figures)
                    print(json.dumps(rows[-1]), flush=True)
    if args.rounds > 1:
        _medians(rows)
    print(json.dumps({"cpus": os.cpu_count(), "python": sys.version.split()[0]}), flush=True)


if __name__ == "__main__":
    main()
