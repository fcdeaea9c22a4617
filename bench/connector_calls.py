"""What do kept-alive connections save a connector call, and what does counting calls per
connection (for the ``connection_failure_rate`` alert) cost one? Measure, don't guess.

Sequential calls to a local HTTPS server (uvicorn, a self-signed certificate for
``localhost``, 127.0.0.1 only), each with a client of its own that is closed afterwards,
as the connector runtime makes them (SSRF guard included):

- ``pooled``: every client borrows one :class:`renkei.egress.transport.EgressPools`, as
  a hub's connections do;
- ``fresh``: every client opens its own connection (a TCP and TLS handshake per call).

Loopback has no network latency, so the saving shown is only the handshakes' CPU; across
the internet each handshake also costs one or two round trips to the vendor.

- ``pooled_counted``: as ``pooled``, every call's outcome counted in a
  :class:`renkei.connectors.call_counts.CallCounts` as the runtime's connections do; the
  rounds alternate (pooled, counted, pooled, counted...) so a busy machine weighs on both;
- ``in_process``/``in_process_counted``: the same two, interleaved, against an
  ``httpx.MockTransport`` answering 200 in process, through one client: no socket, so
  what is left is the client's own CPU per call, where the count's share shows best;
- ``count_ns``: what one count costs alone (``CallCounts.succeeded``, a million times).

    .venv/bin/python bench/connector_calls.py [--calls 500]

Prints one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import json
import ssl
import statistics
import tempfile
import time
import timeit
from typing import Any

import httpx

from renkei.connectors.call_counts import CallCounts
from renkei.connectors.http import ConnectorHTTP
from renkei.egress.ssrf import TargetPolicy
from renkei.egress.transport import EgressPools
from renkei.observability.logging import configure_logging
from renkei.sandbox import self_signed, serve_in_thread


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


async def sequential_calls(
    base_url: str,
    calls: int,
    transport: Any,
    verify: ssl.SSLContext,
    counts: CallCounts | None = None,
) -> float:
    policy = TargetPolicy(allow_private=True)
    started = time.perf_counter()
    for _ in range(calls):
        fresh = transport or EgressPools(ssl=verify, shared=False)
        http = ConnectorHTTP(
            base_url, connector="bench", connection="bench", policy=policy, transport=fresh
        )
        if counts is not None:
            http.count_calls(counts, "conn_bench")
        async with http:
            await http.request("GET", "/ping", operation="ping")
    return time.perf_counter() - started


async def one_client_calls(
    transport: httpx.AsyncBaseTransport, calls: int, counts: CallCounts | None
) -> float:
    """``calls`` requests through one client (building a client costs a millisecond: it
    would hide the rest)."""
    http = ConnectorHTTP(
        "http://vendor.test", connector="bench", connection="bench", transport=transport
    )
    if counts is not None:
        http.count_calls(counts, "conn_bench")
    async with http:
        started = time.perf_counter()
        for _ in range(calls):
            await http.request("GET", "/ping", operation="ping")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    calls = max(1, min(args.calls, 5_000))
    configure_logging("warning")
    with tempfile.TemporaryDirectory() as workdir:
        tls = self_signed(Path(workdir))
        verify = tls.client_context()
        with serve_in_thread(ok_app, tls=tls) as url:
            base_url = url.replace("127.0.0.1", "localhost")

            async def measure() -> dict[str, Any]:
                pools = EgressPools(ssl=verify)
                results: dict[str, Any] = {}
                modes = (("pooled", pools), ("fresh", None), ("pooled_again", pools))
                for mode, transport in modes:
                    seconds = await sequential_calls(base_url, calls, transport, verify)
                    results[mode] = {
                        "calls_per_s": round(calls / seconds),
                        "ms_per_call": round(1000 * seconds / calls, 3),
                    }
                # Counted or not, interleaved: the medians of the rounds.
                rounds: dict[str, list[float]] = {"pooled": [], "pooled_counted": []}
                for _ in range(5):
                    for mode, counts in (("pooled", None), ("pooled_counted", CallCounts())):
                        seconds = await sequential_calls(base_url, calls, pools, verify, counts)
                        rounds[mode].append(seconds / calls)
                        if counts is not None:
                            assert counts.take() == {"conn_bench": (calls, 0)}
                for mode, per_call in rounds.items():
                    median = statistics.median(per_call)
                    results[f"{mode}_rounds"] = {
                        "calls_per_s": round(1 / median),
                        "ms_per_call": round(1000 * median, 3),
                    }
                await pools.close_pools()
                # No socket at all: the client's CPU per call, counted or not.
                answer = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
                rounds = {"in_process": [], "in_process_counted": []}
                for _ in range(5):
                    for mode, counts in (
                        ("in_process", None),
                        ("in_process_counted", CallCounts()),
                    ):
                        seconds = await one_client_calls(answer, calls * 4, counts)
                        rounds[mode].append(seconds / (calls * 4))
                for mode, per_call in rounds.items():
                    median = statistics.median(per_call)
                    results[mode] = {
                        "calls_per_s": round(1 / median),
                        "us_per_call": round(1_000_000 * median, 1),
                    }
                return results

            tally = CallCounts()
            count_ns = timeit.timeit(lambda: tally.succeeded("conn_bench"), number=1_000_000)

            results = asyncio.run(measure())
    report = {"calls": calls, "sequential": True, "tls": True, **results}
    # timeit's total seconds for a million counts = nanoseconds per count (the lambda's
    # call included, so an upper bound).
    report["count_ns"] = round(count_ns * 1000, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
