"""How fast does the tracking API store events? Measure, don't guess.

Serves Renkei exactly as ``renkei serve`` does (uvicorn, uvloop, httptools with each
response in one write, one process per core, workers included) on a fresh database, and
drives it with wrk on 127.0.0.1:

1. ``track``: single-event ``POST /v1/track``, each answered only after its commit;
2. ``bare``: the same wrk run against a bare ASGI app that reads the body and answers
   ``{"success":true}``, served by the same server with the same options and worker
   count, in the same run: ``ratio = track / bare``;
3. ``batch``: ``POST /v1/batch`` with 100 events per request: events/s;
4. ``floor``: a reference for what durability alone costs: an ASGI app that parses the
   JSON body, group-commits it into a one-column SQLite table (WAL, ``synchronous=NORMAL``,
   as Renkei) and answers after the commit; no validation, no indexes, no fan-out.
   ``floor_ratio = floor / bare`` is the best ``ratio`` a Python app on this server gets
   while storing what it acknowledges.

Each run is bounded (``--duration`` seconds, after a short warm-up). After each Renkei run
the events in the database are counted: ``stored`` must be at least ``acked`` (no ack
without storage), and ``group_commits`` reads ``/metrics`` before and after it: how many
transactions stored the run's events, how many events each held, and how long each took. wrk's own CPU time is reported (``load_generator_cpu_percent``, of one
core): on a 2-core machine the load generator competes with the server.

    .venv/bin/python bench/ingest.py                     # SQLite, 10 s per run
    .venv/bin/python bench/ingest.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

Needs wrk (Debian: ``apt-get install -y wrk``). Prints one JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shadows the stdlib ``queue``: this folder goes last on the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import harness
from harness import count_events, free_port, postgres_database

ROOT = Path(__file__).resolve().parent.parent
SERVE_OPTIONS: dict[str, Any] = {
    "log_config": None,
    "access_log": False,
    "loop": "uvloop",
}
BATCH_SIZE = 100


# -- the bare ASGI app ------------------------------------------------------------------------


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the request body and answers like the tracking API, doing nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"success":true}'})


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app, host="127.0.0.1", port=port, **_serve_options())


class FloorApp:
    """Parses the body and answers after a group commit into one SQLite table; nothing else."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()

    async def commit_forever(self) -> None:
        import sqlite3

        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, data TEXT)")
        while True:
            await self.wake.wait()
            self.wake.clear()
            group, self.pending = self.pending, []
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO events (data) VALUES (?)", [(b.decode(),) for b, _ in group]
            )
            db.execute("COMMIT")
            for _, future in group:
                future.set_result(None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import orjson

        if scope["type"] == "lifespan" or scope["path"] == "/healthz":
            if scope["type"] == "lifespan":
                self.committer = asyncio.get_running_loop().create_task(self.commit_forever())
            await bare_app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not isinstance(orjson.loads(body), dict):
            raise ValueError("not a JSON object")
        future = asyncio.get_running_loop().create_future()
        self.pending.append((body, future))
        self.wake.set()
        await future
        await bare_app(scope, _no_body, send)


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def serve_floor(port: int, path: Path) -> None:
    import uvicorn

    uvicorn.run(FloorApp(path), host="127.0.0.1", port=port, **_serve_options())


def _serve_options() -> dict[str, Any]:
    """As ``renkei serve``: its protocol (httptools, each response in one write)."""
    from renkei.api.http_protocol import HttpProtocol

    return {**SERVE_OPTIONS, "http": HttpProtocol}


# -- processes --------------------------------------------------------------------------------


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    harness.wait_until_up(url, process, log, timeout=60)


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str], workdir: Path, name: str) -> Iterator[Any]:
    port = free_port()
    log = workdir / f"{name}.log"
    process = subprocess.Popen(
        [*command, str(port)] if name in ("bare", "floor") else [*command, "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process, log)
        yield port, process.pid
    finally:
        harness.stop(process, timeout=30)


def cpu_seconds(pid: int, *, system_only: bool = False) -> float:
    """CPU time of ``pid`` and its living children (``renkei serve`` runs one per core);
    ``system_only``: the part spent in the kernel (sockets, ``fsync``, locks)."""
    return harness.cpu_seconds([pid, *harness.children_of(pid)], system_only=system_only)


def memory_mb(pid: int) -> tuple[float, float]:
    """RSS (summed) and PSS of ``pid`` and its children, in MB."""
    return harness.memory_mb([pid, *harness.children_of(pid)])


def start_profiler(pid: int, output: str, seconds: float, log: Path) -> subprocess.Popen[bytes]:
    """py-spy of the GIL holder (SQLite's own work beside the loop, done without the GIL,
    is in the process CPU time but not here)."""
    return harness.start_profiler(pid, output, seconds, log, rate=250)


def profile_top(path: str, top: int) -> dict[str, Any]:
    """The top functions: own samples, and samples under Renkei's and the server's."""
    return harness.profile_top(path, top, under=lambda f: "(renkei/" in f or "(uvicorn/" in f)


# -- wrk ----------------------------------------------------------------------------------------


def lua_script(path: Path, body: bytes, write_key: str) -> Path:
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Basic {auth}"\n'
    )
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(
    url: str,
    script: Path,
    *,
    duration: float,
    connections: int,
    threads: int,
    server_pid: int,
    prefix: list[str],
) -> dict[str, Any]:
    command = [
        *prefix,
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = cpu_seconds(server_pid)
    system_before = cpu_seconds(server_pid, system_only=True)
    started = time.monotonic()
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_rss = peak_pss = 0.0
    while running.poll() is None:  # the memory of every server process, twice a second
        rss, pss = memory_mb(server_pid)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        with contextlib.suppress(subprocess.TimeoutExpired):
            running.wait(0.5)
    out, err = running.communicate()
    if running.returncode:
        raise SystemExit(f"wrk failed: {err}")
    wall = time.monotonic() - started
    server_cpu = cpu_seconds(server_pid) - server_before
    system_cpu = cpu_seconds(server_pid, system_only=True) - system_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non_2xx = int(non_2xx_match.group(1)) if non_2xx_match else 0
    errors = re.search(r"Socket errors: (.*)", out)
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.MULTILINE))
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": total,
        "non_2xx": non_2xx,
        "acked": total - non_2xx,
        "socket_errors": errors.group(1) if errors else None,
        "latency_ms": {f"p{key}": round(_ms(value), 2) for key, value in latency.items()},
        "load_generator_cpu_percent": round(100 * wrk_cpu / wall, 1),
        "server_cpu_percent": round(100 * server_cpu / wall, 1),
        # CPU of every server process per request answered: steadier than the rate when
        # other work shares the machine.
        "server_cpu_us_per_request": round(1e6 * server_cpu / max(1, total), 1),
        "server_system_cpu_share": round(system_cpu / server_cpu, 2) if server_cpu else None,
        "peak_memory_mb": {"rss": peak_rss, "pss": peak_pss},
    }


def group_commit_totals(port: int) -> dict[str, float]:
    """The group committer's histograms, summed over every process (``/metrics``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    totals: dict[str, float] = {}
    for name in (
        "renkei_ingest_group_events_count",
        "renkei_ingest_group_events_sum",
        "renkei_ingest_commit_seconds_sum",
    ):
        found = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        totals[name] = float(found.group(1)) if found else 0.0
    return totals


def group_commits(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, Any]:
    def delta(name: str) -> float:
        return after[name] - before[name]

    transactions = delta("renkei_ingest_group_events_count")
    if not transactions:
        return {"transactions": 0}
    return {
        "transactions": int(transactions),
        "transactions_per_s": round(transactions / wall),
        "events_per_transaction": round(delta("renkei_ingest_group_events_sum") / transactions, 1),
        "ms_per_transaction": round(
            1e3 * delta("renkei_ingest_commit_seconds_sum") / transactions, 2
        ),
    }


# -- the runs -----------------------------------------------------------------------------------


def track_body(number: int = 0) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": f"user-{number % 1000}",
        "event": "Order Completed",
        "properties": {
            "order_id": "o-1001",
            "total": 42.5,
            "currency": "EUR",
            "products": [{"sku": "sku-1", "price": 21.25, "quantity": 2}],
        },
        "context": {
            "ip": "203.0.113.9",
            "library": {"name": "bench", "version": "1.0"},
            "page": {"path": "/checkout", "url": "https://shop.example/checkout"},
        },
        "timestamp": "2026-01-01T00:00:00.000Z",
    }


async def prepare(url: str, secret_key: str) -> str:
    """Migrate and create a tracking source; returns its write key."""
    from renkei.events.sources import create_source
    from renkei.security.keyring import Keyring
    from renkei.store import Database, migrate

    database = Database(url)
    try:
        await migrate(database)
        async with database.transaction() as tx:
            from datetime import UTC, datetime

            created = await create_source(
                tx,
                Keyring([secret_key]),
                kind="tracking",
                name=f"bench-{uuid.uuid4().hex[:8]}",
                now=datetime.now(UTC),
            )
        assert created.write_key is not None
        return created.write_key
    finally:
        await database.dispose()


@contextlib.contextmanager
def workspace(admin_url: str | None, prefix: str) -> Iterator[tuple[Path, str]]:
    """A temporary folder and a fresh database for one bench, both removed afterwards:
    a new PostgreSQL database on the server of ``admin_url``, else SQLite in the folder."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    drop = None
    if admin_url:
        database_url, drop = postgres_database(admin_url)
    else:
        database_url = f"sqlite:///{workdir / 'bench.db'}"
    try:
        yield workdir, database_url
    finally:
        if drop is not None:
            drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (≤ 60)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch-connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--processes", type=int, help="renkei serve --processes (default: serve's, one per core)"
    )
    parser.add_argument("--database-url", help="PostgreSQL server (admin URL); default SQLite")
    parser.add_argument(
        "--nice",
        type=int,
        default=-15 if os.geteuid() == 0 else 0,
        help="niceness of the servers and wrk (default -15 as root: other work on the "
        "machine then disturbs the figures less; 0 to leave it)",
    )
    parser.add_argument(
        "--only",
        choices=("renkei", "track", "batch"),
        help="renkei: track and batch, without the bare and floor references; track or batch: that run alone",
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="py-spy record the server during each Renkei run into PREFIX-track.raw and "
        "PREFIX-batch.raw, and print their top entries (needs py-spy)",
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if args.serve_floor:
        serve_floor(args.serve_floor, Path(os.environ["RENKEI_DATA_DIR"]) / "floor.db")
        return
    prefix = ["nice", "-n", str(args.nice)] if args.nice else []
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu)")
    duration = min(args.duration, 60.0)

    from renkei.security.keyring import generate_key

    backend = "postgresql" if args.database_url else "sqlite"
    secret_key = generate_key()
    with workspace(args.database_url, "renkei-bench-") as (workdir, database_url):
        write_key = asyncio.run(prepare(database_url, secret_key))
        env = {
            **os.environ,
            "RENKEI_DATABASE_URL": database_url,
            "RENKEI_SECRET_KEY": secret_key,
            "RENKEI_LOG_LEVEL": "warning",
            "RENKEI_LOG_FORMAT": "json",
            "RENKEI_DATA_DIR": str(workdir),
        }
        track_script = lua_script(
            workdir / "track.lua", json.dumps(track_body()).encode(), write_key
        )
        batch = {"batch": [track_body(number) for number in range(BATCH_SIZE)]}
        batch_script = lua_script(workdir / "batch.lua", json.dumps(batch).encode(), write_key)

        def measure(
            port: int, pid: int, path: str, script: Path, connections: int, *, count: bool
        ) -> dict[str, Any]:
            url = f"http://127.0.0.1:{port}{path}"
            options = {
                "connections": connections,
                "threads": args.threads,
                "server_pid": pid,
                "prefix": prefix,
            }
            if args.warmup:
                run_wrk(url, script, duration=args.warmup, **options)
            before = asyncio.run(count_events(database_url)) if count else 0
            groups_before = group_commit_totals(port) if count else {}
            profiler = None
            if args.profile and count:
                output = f"{args.profile}-{path.rsplit('/', 1)[-1]}.raw"
                profiler = start_profiler(pid, output, duration, workdir / "py-spy.log")
            result = run_wrk(url, script, duration=duration, **options)
            if profiler is not None:
                profiler.wait(120)
                result["profile"] = profile_top(output, args.profile_top)
            if count:
                result["stored_events"] = asyncio.run(count_events(database_url)) - before
                result["group_commits"] = group_commits(
                    groups_before, group_commit_totals(port), duration
                )
            return result

        renkei = [*prefix, sys.executable, "-m", "renkei", "serve"]
        if args.processes:
            renkei += ["--processes", str(args.processes)]
        track: dict[str, Any] = {"acked": 0, "stored_events": 0}
        batch_run: dict[str, Any] = {"acked": 0, "stored_events": 0, "requests_per_s": 0}
        with server(renkei, env, workdir, "renkei") as (port, pid):
            if args.only != "batch":
                track = measure(port, pid, "/v1/track", track_script, args.connections, count=True)
            if args.only != "track":
                batch_run = measure(
                    port, pid, "/v1/batch", batch_script, args.batch_connections, count=True
                )
        batch_run["events_per_s"] = round(batch_run["requests_per_s"] * BATCH_SIZE)
        if "server_cpu_us_per_request" in batch_run:
            batch_run["server_cpu_us_per_event"] = round(
                batch_run["server_cpu_us_per_request"] / BATCH_SIZE, 2
            )
        stored_all = (
            track["stored_events"] >= track["acked"]
            and batch_run["stored_events"] >= batch_run["acked"] * BATCH_SIZE
        )
        server_name = f"renkei serve --processes {args.processes or 'default (one per core)'}"
        if args.only:
            result = {
                "backend": backend,
                "cpus": os.cpu_count(),
                "duration_s": duration,
                "server": server_name,
                "load_generator": f"wrk -t{args.threads}",
                "load_average": os.getloadavg(),
                "nice": args.nice,
                **({"track": track} if args.only != "batch" else {}),
                **(
                    {"batch": {"events_per_request": BATCH_SIZE, **batch_run}}
                    if args.only != "track"
                    else {}
                ),
                "no_ack_without_storage": stored_all,
            }
            print(json.dumps(result, indent=2))
            return
        bare_command = [*prefix, sys.executable, str(Path(__file__).resolve()), "--serve-bare"]
        with server(bare_command, env, workdir, "bare") as (port, pid):
            bare = measure(port, pid, "/v1/track", track_script, args.connections, count=False)
        floor_command = [*prefix, sys.executable, str(Path(__file__).resolve()), "--serve-floor"]
        with server(floor_command, env, workdir, "floor") as (port, pid):
            floor = measure(port, pid, "/v1/track", track_script, args.connections, count=False)
        result = {
            "backend": backend,
            "cpus": os.cpu_count(),
            "duration_s": duration,
            "server": f"{server_name}; bare and floor: uvicorn (uvloop, renkei serve's protocol), 1 process",
            "load_average": os.getloadavg(),
            "load_generator": f"wrk -t{args.threads}",
            "nice": args.nice,
            "track": track,
            "bare_asgi": bare,
            "ratio": round(track["requests_per_s"] / bare["requests_per_s"], 3),
            "floor": floor,
            "floor_ratio": round(floor["requests_per_s"] / bare["requests_per_s"], 3),
            "batch": {"events_per_request": BATCH_SIZE, **batch_run},
            "no_ack_without_storage": stored_all,
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
