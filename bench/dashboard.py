"""The dashboard on a large database: server time of every list and detail page.

    .venv/bin/python bench/dashboard.py [--backend sqlite|postgresql|both]
        [--events 1000000] [--deliveries 2000000] [--endpoints 100] [--requests 30]
        [--reuse] [--while-browsing] [--seconds 30]

Prints one JSON document. Everything runs on this machine, on loopback only:

- the database: events over the last 30 days (several types, 50,000 user ids), deliveries
  fanned out to the endpoints (a few endpoints failing), one attempt per delivery, flow runs
  for a twentieth of the ``order.paid`` events, a profile per user; written in big batches
  straight into the project's tables (``executemany`` on SQLite, ``COPY`` on PostgreSQL)
  after ``renkei migrate`` and ``renkei apply`` made the schema, endpoints and flows.
  ``--reuse`` keeps it (a file under ~/.cache/renkei-bench, a database named after its
  size) for the next run: generating the full size takes minutes.
- pages: a real ``renkei serve`` answers; one client signed in through the sign-in form
  asks each page ``--requests`` times on a kept-alive connection; server time = the
  response time that client sees; p50/p95/max per page, target p95 <= 200 ms.
- ``--while-browsing``: events posted at a fixed rate to ``POST /v1/batch`` and delivered
  to a fast local receiver, for ``--seconds`` without and then with a client browsing every
  page in a loop; ingested and delivered per second of both phases.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the stdlib module ``queue``; keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.deliveries import ReceiverProcess

PG_ADMIN = os.environ.get("RENKEI_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_TOKEN = "rk_admin_bench-token-0123456789abcdef"
CACHE = Path(os.environ.get("RENKEI_BENCH_CACHE", Path.home() / ".cache" / "renkei-bench"))
TARGET_P95_MS = 200.0
BATCH = 20_000
LAYOUT = 2  # of the generated rows: a cached database of another layout is not reused

EVENT_TYPES = [  # (type, share of the events)
    ("order.paid", 0.35),
    ("track", 0.30),
    ("page", 0.15),
    ("identify", 0.10),
    ("cart.updated", 0.10),
]
# Webhook endpoints take the business events (half of them each type); tracking calls go
# to flows, so the ingest of --while-browsing (track calls) reaches only its own receiver.
WEBHOOK_TYPES = ["order.paid", "cart.updated"]
TRACK_NAMES = ["Product Viewed", "Signed Up", "Demo Requested", "Checkout Started"]
USERS = 50_000
FAILING_ENDPOINTS = 5
DAYS = 30

# -- ids ----------------------------------------------------------------------------------

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _id_at(prefix: str, at: datetime, n: int) -> str:
    """A ``renkei.ids`` shaped id made at ``at`` (time-sortable like the real ones)."""
    ms = int(at.timestamp() * 1000)
    head = "".join(_ALPHABET[(ms >> shift) & 31] for shift in range(45, -5, -5))
    tail = "".join(_ALPHABET[(n >> shift) & 31] for shift in range(75, -5, -5))
    return f"{prefix}_{head}{tail}"


# -- the generated database ---------------------------------------------------------------


def _config(endpoints: int) -> str:
    lines = ["event_types:"]
    for name, _ in EVENT_TYPES:
        lines.append(f"  - {{name: {name}, description: 'bench {name}'}}")
    lines.append("endpoints:")
    for n in range(endpoints):
        lines.append(
            f"  - {{name: endpoint-{n:03d}, url: 'http://127.0.0.1:9/hook/{n}',"
            f" event_types: [{WEBHOOK_TYPES[n % len(WEBHOOK_TYPES)]}]}}"
        )
    lines.append("flows:")
    for name, trigger in (("paid-order-alert", "order.paid"), ("welcome", "identify")):
        lines += [
            f"  - name: {name}",
            f"    trigger: {{event_types: [{trigger}]}}",
            "    steps:",
            "      - id: message",
            '        template: {format: json, source: \'{"user": "{{ event.user_id }}"}\'}',
        ]
    return "\n".join(lines) + "\n"


def _renkei(args: list[str], env: dict[str, str], workdir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "renkei", *args],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
    )


def _env(url: str, key: str, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RENKEI_DATABASE_URL": url,
        "RENKEI_SECRET_KEY": key,
        "RENKEI_ADMIN_TOKEN": ADMIN_TOKEN,
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
        "RENKEI_LOG_LEVEL": "warning",
        "RENKEI_DATA_DIR": str(workdir),
    }


class Rows:
    """The generated rows, table by table, in batches (tuples in each table's column order)."""

    def __init__(
        self, events: int, deliveries: int, endpoints: list[str], flows: list[str], now: datetime
    ) -> None:
        self.events = events
        self.deliveries = deliveries
        self.endpoints = endpoints
        self.failing = set(endpoints[:FAILING_ENDPOINTS])
        self.flows = flows
        self.now = now
        self.start = now - timedelta(days=DAYS)
        self.written: dict[str, int] = {}

    def counted(self) -> Iterator[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
        for table, columns, batch in self.batches():
            self.written[table] = self.written.get(table, 0) + len(batch)
            yield table, columns, batch

    EVENT_COLUMNS = (
        "id",
        "type",
        "name",
        "source_id",
        "user_id",
        "data",
        "occurred_at",
        "received_at",
    )
    DELIVERY_COLUMNS = (
        "id",
        "event_id",
        "endpoint_id",
        "event_type",
        "status",
        "attempts",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "updated_at",
    )
    ATTEMPT_COLUMNS = (
        "delivery_id",
        "endpoint_id",
        "event_id",
        "attempt",
        "trigger",
        "started_at",
        "url",
        "request_headers",
        "status_code",
        "response_headers",
        "response_body",
        "duration_ms",
        "error",
        "success",
    )
    RUN_COLUMNS = (
        "id",
        "flow_id",
        "version",
        "event_id",
        "user_key",
        "status",
        "context",
        "started_at",
        "updated_at",
        "finished_at",
    )
    PROFILE_COLUMNS = ("id", "traits", "created_at", "updated_at")
    IDENTITY_COLUMNS = ("kind", "value", "profile_id", "created_at")

    def batches(self) -> Iterator[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
        rng = random.Random(16)
        shares = dict(EVENT_TYPES)
        per_event = self.deliveries / (self.events * sum(shares[t] for t in WEBHOOK_TYPES))
        subscribers = {
            kind: self.endpoints[index :: len(WEBHOOK_TYPES)]
            for index, kind in enumerate(WEBHOOK_TYPES)
        }
        subscribed = 0
        span = (self.now - self.start).total_seconds() - 60
        types = [name for name, _ in EVENT_TYPES]
        weights = [share for _, share in EVENT_TYPES]
        events: list[tuple[Any, ...]] = []
        deliveries: list[tuple[Any, ...]] = []
        attempts: list[tuple[Any, ...]] = []
        runs: list[tuple[Any, ...]] = []
        made = 0
        for n in range(self.events):
            at = self.start + timedelta(seconds=span * n / self.events)
            kind = rng.choices(types, weights)[0]
            user = f"u-{rng.randrange(USERS):05d}" if rng.random() < 0.9 else None
            event_id = _id_at("evt", at, n)
            data = {"order_id": f"o-{n}", "amount": rng.randrange(100, 50_000), "currency": "JPY"}
            events.append(
                (
                    event_id,
                    kind,
                    rng.choice(TRACK_NAMES) if kind == "track" else None,
                    "api",
                    user,
                    json.dumps(data),
                    at,
                    at,
                )
            )
            # Fan-out: the running total keeps deliveries / events at the wanted ratio.
            targets = subscribers.get(kind, [])
            if targets:
                subscribed += 1
            fanout = min(len(targets), int(subscribed * per_event) - made) if targets else 0
            for k in range(fanout):
                endpoint = targets[(n * 7 + k * 13) % len(targets)]
                failed = endpoint in self.failing and rng.random() < 0.6
                failed = failed or rng.random() < 0.005
                code = 500 if failed else 200
                sent = at + timedelta(milliseconds=rng.randrange(20, 900))
                delivery_id = _id_at("dlv", at, made + k)
                deliveries.append(
                    (
                        delivery_id,
                        event_id,
                        endpoint,
                        kind,
                        "exhausted" if failed else "succeeded",
                        1,
                        sent,
                        code,
                        "HTTP 500" if failed else None,
                        at,
                        sent,
                    )
                )
                attempts.append(
                    (
                        delivery_id,
                        endpoint,
                        event_id,
                        1,
                        "scheduled",
                        sent,
                        f"http://127.0.0.1:9/hook/{endpoint}",
                        "{}",
                        code,
                        "{}",
                        "oops" if failed else "ok",
                        rng.uniform(5, 400),
                        None,
                        not failed,
                    )
                )
            made += fanout
            if kind == "order.paid" and n % 20 == 0:
                runs.append(
                    (
                        _id_at("run", at, n),
                        self.flows[0],
                        1,
                        event_id,
                        user,
                        "succeeded",
                        "{}",
                        at,
                        at,
                        at,
                    )
                )
            if len(events) >= BATCH:
                yield "events", self.EVENT_COLUMNS, events
                yield "deliveries", self.DELIVERY_COLUMNS, deliveries
                yield "delivery_attempts", self.ATTEMPT_COLUMNS, attempts
                yield "flow_runs", self.RUN_COLUMNS, runs
                events, deliveries, attempts, runs = [], [], [], []
        yield "events", self.EVENT_COLUMNS, events
        yield "deliveries", self.DELIVERY_COLUMNS, deliveries
        yield "delivery_attempts", self.ATTEMPT_COLUMNS, attempts
        yield "flow_runs", self.RUN_COLUMNS, runs
        profiles = []
        identities = []
        for n in range(USERS):
            profile_id = _id_at("prf", self.start, n)
            traits = json.dumps({"email": f"user{n}@example.com", "plan": "pro"})
            profiles.append((profile_id, traits, self.start, self.now))
            identities.append(("user_id", f"u-{n:05d}", profile_id, self.start))
        yield "profiles", self.PROFILE_COLUMNS, profiles
        yield "identities", self.IDENTITY_COLUMNS, identities


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLAlchemy's SQLite storage format, naive UTC
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"
    if isinstance(value, bool):
        return int(value)
    return value


def _fill_sqlite(path: Path, rows: Rows) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous = OFF")
    for table, columns, batch in rows.counted():
        if not batch:
            continue
        marks = ", ".join("?" * len(columns))
        connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
            ([_sqlite_value(v) for v in row] for row in batch),
        )
        connection.commit()
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


async def _fill_postgresql(url: str, rows: Rows) -> None:
    connection = await asyncpg.connect(url)
    try:
        for table, columns, batch in rows.counted():
            if batch:
                await connection.copy_records_to_table(table, records=batch, columns=columns)
        # What autovacuum does to a live database: statistics and the visibility map (without
        # it an index-only scan still reads every row from the table).
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


# Not --while-browsing's receivers (deleted after each run).
GENERATED_ENDPOINTS = (
    "SELECT id FROM endpoints WHERE name LIKE 'endpoint-%' AND deleted_at IS NULL ORDER BY name"
)


async def _named(url: str) -> tuple[list[str], list[str]]:
    """The endpoints' and flows' ids ``renkei apply`` created, in name order."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        endpoints = [r[0] for r in connection.execute(GENERATED_ENDPOINTS)]
        flows = [r[0] for r in connection.execute("SELECT id FROM flows ORDER BY name")]
        connection.close()
        return endpoints, flows
    pg = await asyncpg.connect(url)
    try:
        endpoints = [r[0] for r in await pg.fetch(GENERATED_ENDPOINTS)]
        flows = [r[0] for r in await pg.fetch("SELECT id FROM flows ORDER BY name")]
    finally:
        await pg.close()
    return endpoints, flows


def _mark_failing(url: str, endpoints: list[str], since: datetime) -> None:
    failing = endpoints[:FAILING_ENDPOINTS]
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        connection.executemany(
            "UPDATE endpoints SET failing_since = ? WHERE id = ?",
            [(_sqlite_value(since), e) for e in failing],
        )
        connection.commit()
        connection.close()
        return

    async def mark() -> None:
        pg = await asyncpg.connect(url)
        try:
            await pg.executemany(
                "UPDATE endpoints SET failing_since = $1 WHERE id = $2",
                [(since, e) for e in failing],
            )
        finally:
            await pg.close()

    asyncio.run(mark())


async def _admin(statement: str) -> Any:
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        return await connection.fetch(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def database(
    backend: str, args: argparse.Namespace, workdir: Path
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(database URL, secret key, how it was made) for the wanted size, made or reused."""
    size = f"v{LAYOUT}-{args.events}e-{args.deliveries}d-{args.endpoints}ep"
    CACHE.mkdir(parents=True, exist_ok=True)
    key_file = CACHE / f"dashboard-{backend}-{size}.key"
    if backend == "sqlite":
        path = (CACHE if args.reuse else workdir) / f"dashboard-{size}.db"
        url = f"sqlite:///{path}"
        exists = args.reuse and path.exists() and key_file.exists()
    else:
        name = f"renkei_bench_dashboard_{size.replace('-', '_')}"
        if not args.reuse:
            name += f"_{os.getpid()}"
        url = PG_ADMIN.rpartition("/")[0] + f"/{name}"
        found = asyncio.run(_admin(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))
        exists = bool(found) and args.reuse and key_file.exists()
        if not exists:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    made: dict[str, Any] = {"reused": exists}
    try:
        if exists:
            key = key_file.read_text().strip()
            _renkei(["migrate"], _env(url, key, workdir), workdir)  # indexes added since
        else:
            from renkei.security.keyring import generate_key

            key = generate_key()
            started = time.perf_counter()
            env = _env(url, key, workdir)
            _renkei(["migrate"], env, workdir)
            config = workdir / "bench-config.yaml"
            config.write_text(_config(args.endpoints))
            _renkei(["apply", "-f", str(config)], env, workdir)
            endpoints, flows = asyncio.run(_named(url))
            now = datetime.now(UTC)
            rows = Rows(args.events, args.deliveries, endpoints, flows, now)
            if backend == "sqlite":
                _fill_sqlite(Path(url.removeprefix("sqlite:///")), rows)
            else:
                asyncio.run(_fill_postgresql(url, rows))
            _mark_failing(url, endpoints, now - timedelta(days=2))
            made["generated_in_seconds"] = round(time.perf_counter() - started, 1)
            made["rows"] = rows.written
            if args.reuse:
                key_file.write_text(key)
        yield url, key, made
    finally:
        if backend == "postgresql" and not args.reuse:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- a served dashboard --------------------------------------------------------------------


@contextlib.contextmanager
def served(url: str, key: str, workdir: Path, extra: dict[str, str]) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    base_url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "renkei", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**_env(url, key, workdir), **extra},
        cwd=workdir,
        stdout=(workdir / "serve.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/healthz").status_code == 200:
                    break
            if serve.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("renkei serve did not start: see serve.log")
            time.sleep(0.2)
        yield base_url
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)


def signed_in(base_url: str) -> httpx.Client:
    """A client holding a session opened through the sign-in form (tests/dashboard/served.py)."""
    client = httpx.Client(base_url=base_url, timeout=60)
    form = client.get("/ui/login")
    found = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
    assert found, "the sign-in page has no CSRF field"
    answer = client.post(
        "/ui/login", data={"csrf_token": found.group(1), "token": ADMIN_TOKEN, "next": "/ui/"}
    )
    assert answer.status_code == 303, answer.text
    return client


def _next_page(client: httpx.Client, path: str) -> str | None:
    """The list's "next" link (a cursor), if the first page has one."""
    page = client.get(path).text
    found = re.search(r'href="([^"]*[?&](?:amp;)?cursor=[^"]*)"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def pages(client: httpx.Client, url: str) -> list[str]:
    """Every navigation page, list pages with filters and a second cursor page, and the
    detail pages of a failing and a busy endpoint, an event, a flow and a profile."""
    from renkei.dashboard.navigation import NAVIGATION

    endpoints, flows = asyncio.run(_named(url))
    window = datetime.now(UTC) - timedelta(days=15)  # an hour in the middle of the data
    wanted = [path for _, path in NAVIGATION]
    wanted += [
        "/ui/events?type=order.paid",
        "/ui/events?user_id=u-00042",
        "/ui/events?type=track&name=Demo+Requested",
        f"/ui/events?since={window:%Y-%m-%dT%H:%M}&until={window + timedelta(hours=1):%Y-%m-%dT%H:%M}",
        "/ui/events?source_id=src_none",
        "/ui/profiles?q=user42%40example.com",
        f"/ui/webhooks/{endpoints[0]}",
        f"/ui/webhooks/{endpoints[-1]}",
        f"/ui/flows/{flows[0]}",
    ]
    events_page = client.get("/ui/events?type=order.paid").text
    found = re.search(r'href="(/ui/events/evt_[^"?]+)"', events_page)
    if found:
        wanted.append(found.group(1))
    profiles_page = client.get("/ui/profiles?user_id=u-00042").text
    found = re.search(r'href="(/ui/profiles/[^"?/]+)"', profiles_page)
    if found:
        wanted.append(found.group(1))
    for listing in ("/ui/events", "/ui/events?type=order.paid", "/ui/audit", "/ui/profiles"):
        second = _next_page(client, listing)
        if second:
            wanted.append(second)
    webhook_page = client.get(f"/ui/webhooks/{endpoints[-1]}").text
    found = re.search(r'href="([^"]*[?&](?:amp;)?attempts=[^"]*)"', webhook_page)
    if found:
        wanted.append(found.group(1).replace("&amp;", "&"))
    return wanted


def _quantile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(client: httpx.Client, paths: list[str], requests: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for path in paths:
        client.get(path)  # warm: templates compiled, caches filled
        times = []
        status = 0
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            status = answer.status_code
        p95 = _quantile(times, 0.95)
        figures[path] = {
            "status": status,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(p95, 1),
            "max_ms": round(max(times), 1),
            "within_target": p95 <= TARGET_P95_MS,
        }
    return figures


# -- ingest and delivery while someone browses ---------------------------------------------


async def _ingest(base_url: str, write_key: str, rate: float, seconds: float) -> int:
    """Posts ``rate`` events/s (batches of 10) to ``/v1/batch``; returns events accepted."""
    import base64

    import aiohttp

    accepted = 0
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    per_request = 10
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:

        async def one(n: int) -> None:
            nonlocal accepted
            body = json.dumps(
                {
                    "batch": [
                        {
                            "type": "track",
                            "event": "Bench Browsed",
                            "userId": f"u-{n}-{k}",
                            "messageId": f"m-{os.getpid()}-{time.time_ns()}-{n}-{k}",
                        }
                        for k in range(per_request)
                    ]
                }
            )
            async with session.post(f"{base_url}/v1/batch", data=body, headers=headers) as r:
                await r.read()
                if r.status < 300:
                    accepted += per_request

        started = time.perf_counter()
        tasks = []
        total = int(rate * seconds / per_request)
        for n in range(total):
            delay = started + n * per_request / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return accepted


def _browse(base_url: str, paths: list[str], stop: threading.Event, counts: list[int]) -> None:
    with contextlib.closing(signed_in(base_url)) as client:
        while not stop.is_set():
            for path in paths:
                if stop.is_set():
                    break
                client.get(path)
                counts[0] += 1


def while_browsing(url: str, key: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    receiver = ReceiverProcess(workdir)
    figures: dict[str, Any] = {"rate_per_second": args.rate, "seconds": args.seconds}
    with served(url, key, workdir, {"RENKEI_WORKER_POLL_INTERVAL": "1"}) as base_url:
        created = httpx.post(
            f"{base_url}/api/v1/endpoints",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={
                "name": f"bench-receiver-{os.getpid()}",
                "url": receiver.url,
                "event_types": ["track"],
            },
        )
        created.raise_for_status()
        source = httpx.post(
            f"{base_url}/api/v1/sources",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={"name": f"bench-web-{os.getpid()}", "kind": "tracking"},
        )
        source.raise_for_status()
        write_key = source.json()["write_key"]
        with contextlib.closing(signed_in(base_url)) as client:
            paths = pages(client, url)
        for phase in ("alone", "browsing"):
            stop = threading.Event()
            counts = [0]
            browser = threading.Thread(target=_browse, args=(base_url, paths, stop, counts))
            if phase == "browsing":
                browser.start()
            before = receiver.received()
            started = time.perf_counter()
            accepted = asyncio.run(_ingest(base_url, write_key, args.rate, args.seconds))
            ingest_seconds = time.perf_counter() - started
            deadline = time.monotonic() + 30
            while receiver.received() - before < accepted and time.monotonic() < deadline:
                time.sleep(0.1)
            delivered = receiver.received() - before
            elapsed = time.perf_counter() - started
            stop.set()
            if phase == "browsing":
                browser.join()
            figures[phase] = {
                "ingested_per_second": round(accepted / ingest_seconds, 1),
                "delivered": delivered,
                "delivered_per_second": round(delivered / elapsed, 1),
                "pages_browsed": counts[0],
            }
        # A reused database keeps no endpoint aimed at a receiver that is gone.
        with contextlib.suppress(httpx.HTTPError):
            httpx.delete(
                f"{base_url}/api/v1/endpoints/{created.json()['id']}",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=120,
            )
    receiver.arrivals()
    return figures


def run(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with database(backend, args, workdir) as (url, key, made):
        result: dict[str, Any] = {"database": made}
        # The worker has nothing to deliver here; a slow poll keeps it out of the figures.
        idle = {"RENKEI_WORKER_POLL_INTERVAL": "5"}
        with (
            served(url, key, workdir, idle) as base_url,
            contextlib.closing(signed_in(base_url)) as client,
        ):
            paths = pages(client, url)
            result["pages"] = measure(client, paths, args.requests)
        over = [p for p, f in result["pages"].items() if not f["within_target"]]
        result["pages_over_target"] = over
        print(json.dumps({backend: result}), file=sys.stderr)  # kept if a later phase fails
        if args.while_browsing:
            result["while_browsing"] = while_browsing(url, key, workdir, args)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=2_000_000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--requests", type=int, default=30, help="per page")
    parser.add_argument("--reuse", action="store_true", help="keep the database for next time")
    parser.add_argument("--while-browsing", action="store_true")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s while browsing")
    parser.add_argument("--seconds", type=float, default=30.0, help="per while-browsing phase")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 60.0)

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "size": {
            "events": args.events,
            "deliveries": args.deliveries,
            "endpoints": args.endpoints,
        },
        "target_p95_ms": TARGET_P95_MS,
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="renkei-bench-") as tmp:
        for backend in backends:
            results["backends"][backend] = run(backend, args, Path(tmp))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
