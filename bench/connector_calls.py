"""What do kept-alive connections save a connector call? Measure, don't guess.

Sequential calls to a local HTTPS server (uvicorn, a self-signed certificate for
``localhost``, 127.0.0.1 only), each with a client of its own that is closed afterwards,
as the connector runtime makes them (SSRF guard included):

- ``pooled``: every client borrows one :class:`renkei.connectors.keepalive.HostPools`, as
  a hub's connections do;
- ``fresh``: every client opens its own connection (a TCP and TLS handshake per call).

Loopback has no network latency, so the saving shown is only the handshakes' CPU; across
the internet each handshake also costs one or two round trips to the vendor.

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
import datetime as dt
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from typing import Any

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from renkei.connectors.http import ConnectorHTTP
from renkei.connectors.keepalive import HostPools
from renkei.delivery.ssrf import TargetPolicy
from renkei.observability.logging import configure_logging


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def sequential_calls(
    base_url: str, calls: int, transport: Any, verify: ssl.SSLContext
) -> float:
    policy = TargetPolicy(allow_private=True)
    started = time.perf_counter()
    for _ in range(calls):
        fresh = transport or httpx.AsyncHTTPTransport(verify=verify)
        http = ConnectorHTTP(
            base_url, connector="bench", connection="bench", policy=policy, transport=fresh
        )
        async with http:
            await http.request("GET", "/ping", operation="ping")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    calls = max(1, min(args.calls, 5_000))
    configure_logging("warning")
    with tempfile.TemporaryDirectory() as workdir:
        cert_path, key_path = self_signed(Path(workdir))
        verify = ssl.create_default_context(cafile=str(cert_path))
        config = uvicorn.Config(
            ok_app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(cert_path),
            ssl_keyfile=str(key_path),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        base_url = f"https://localhost:{port}"

        async def measure() -> dict[str, Any]:
            pools = HostPools(lambda: httpx.AsyncHTTPTransport(verify=verify))
            results: dict[str, Any] = {}
            for mode, transport in (("pooled", pools), ("fresh", None), ("pooled_again", pools)):
                seconds = await sequential_calls(base_url, calls, transport, verify)
                results[mode] = {
                    "calls_per_s": round(calls / seconds),
                    "ms_per_call": round(1000 * seconds / calls, 3),
                }
            await pools.close_pools()
            return results

        results = asyncio.run(measure())
        server.should_exit = True
        thread.join(timeout=10)
    print(json.dumps({"calls": calls, "sequential": True, "tls": True, **results}, indent=2))


if __name__ == "__main__":
    main()
