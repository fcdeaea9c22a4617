"""Relay: publish → signed delivery through the default ``renkei serve``, and Node-RED.

    .venv/bin/python bench/relay.py                          # SQLite, 16 connections, 20 s
    .venv/bin/python bench/relay.py --peer node-red          # and Node-RED 4, same run
    .venv/bin/python bench/relay.py --rate 1000 --seconds 20 # open loop at 1,000 events/s
    .venv/bin/python bench/relay.py --processes 2 --database-url postgresql://postgres@127.0.0.1:5432/postgres

Everything runs on this machine, on 127.0.0.1, and every run is bounded in time:

- ``renkei serve`` as a user starts it (every process it starts by default; ``--processes``
  passes ``--processes N``) on a fresh database in a temporary folder, with one endpoint
  subscribed to everything, pointing at
- a fast receiver in its own process (raw uvloop + httptools, answers 204), which counts
  requests and records each one's arrival time, ``webhook-id`` and payload ``timestamp``;
- closed loop (default): wrk (Debian's; installed with apt-get when missing) with a Lua
  script POSTs ``/api/v1/events`` on ``--connections`` connections for ``--duration`` s.
  accepted/s = events stored / duration; delivered/s = arrivals during the load / duration;
  backlog = accepted - delivered when the load stops; drain = time until every accepted
  event has arrived (bounded by ``--drain-timeout``). Latency = arrival - the event's
  ``timestamp`` (the moment the server took the publish);
- open loop (``--rate R``): a small uvloop client in its own process: request n (its own
  ``id``) is due at n / R s whatever became of the others and goes out on the first free
  one of ``--open-connections`` (64) kept-alive connections, ``--seconds`` long;
  latency = arrival - the moment request n was due (waiting for a connection counts);
- ``--peer node-red``: Node-RED 4 (npm, installed once into ``~/.cache/renkei-bench/node-red``)
  with the flow ``http in`` (POST /relay) → ``http request`` (the receiver, keep-alive) →
  ``http response``, driven by the same wrk run; ``ratio`` = Renkei delivered/s ÷ Node-RED's.
  ``--rounds N`` alternates the two N times (Renkei first in odd rounds, Node-RED first in
  even ones, each round on a fresh database), because a shared machine's speed drifts by
  tens of per cent over a minute: ``ratio`` is then the median of the rounds' ratios, and
  ``rounds`` lists each.

Also printed: the load generator's CPU (% of one core: on 2 cores it competes with the
server), and the memory of every Renkei process, sampled during the run (peak of the sum):
RSS, and PSS, which counts the pages forked children share with their parent once.
Prints one JSON object.
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
import json
import multiprocessing
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from typing import Any

import harness
import httpx
from harness import (
    MemorySampler,
    ReceiverProcess,
    cpu_seconds,
    descendants,
    free_port,
    memory_mb,
    stop,
    wait_until_up,
)

ADMIN_TOKEN = "rk_admin_bench-relay-0123456789abcdef"
NODE_RED_HOME = Path.home() / ".cache" / "renkei-bench" / "node-red"
EVENT = {"type": "order.paid", "data": {"order_id": "o-1001", "amount": 4200, "currency": "JPY"}}


def count_events(url: str) -> int:
    return asyncio.run(harness.count_events(url))


# -- load: wrk (closed loop) --------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("bench/relay.py: installing wrk (apt-get install -y wrk)", file=sys.stderr)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)


def wrk_script(path: Path, token: str | None) -> Path:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(EVENT))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n' + auth
    )
    return path


def run_wrk(
    url: str, script: Path, connections: int, duration: float, nice: list[str]
) -> dict[str, Any]:
    command = [
        *nice,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = done.stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": total,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
        "wall_s": round(wall, 2),
        "load_generator": f"wrk -t1 -c{connections}",
        "load_generator_cpu_percent": round(100 * cpu / wall, 1),
    }


# -- load: open loop ----------------------------------------------------------------------------


def _open_loop(
    port: int, rate: float, seconds: float, connections: int, token: str, out: str
) -> None:
    """Request n is due at n / rate s and goes out on the first of ``connections`` kept-alive
    connections that is free; its latency counts from when it was due, so time spent
    waiting for a connection is in it (no coordinated omission). Writes ``n due status``."""
    import uvloop

    total = int(rate * seconds)
    results: list[tuple[int, float, int]] = []

    def request(n: int) -> bytes:
        body = json.dumps({**EVENT, "id": f"evt_open_{n:08d}"}).encode()
        return (
            f"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def main() -> None:
        pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = (
            asyncio.Queue()
        )
        for _ in range(connections):
            pool.put_nowait(None)  # opened on first use

        async def one(n: int, due: float) -> None:
            connection = await pool.get()
            try:
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                reader, writer = connection
                writer.write(request(n))
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                results.append((n, due, 0))  # status 0: no answer (refused or cut)
                pool.put_nowait(None)
                return
            results.append((n, due, status))
            pool.put_nowait(connection)

        started, wall = time.perf_counter(), time.time()
        tasks = []
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, wall + n / rate)))
        await asyncio.gather(*tasks, return_exceptions=True)

    uvloop.run(main())
    with open(out, "w") as file:
        file.writelines(f"{n} {due:.6f} {status}\n" for n, due, status in results)


def open_loop(
    port: int, rate: float, seconds: float, connections: int, workdir: Path
) -> tuple[dict[str, float], dict[str, Any]]:
    out = workdir / "open-loop.log"
    process = multiprocessing.get_context("fork").Process(
        target=_open_loop, args=(port, rate, seconds, connections, ADMIN_TOKEN, str(out))
    )
    started = time.monotonic()
    process.start()
    assert process.pid is not None
    cpu = 0.0
    while process.is_alive():
        cpu = cpu_seconds([process.pid]) or cpu
        process.join(0.2)
    wall = time.monotonic() - started
    sent: dict[str, float] = {}
    statuses: dict[int, int] = {}
    for line in out.read_text().splitlines():
        n, at, status = line.split(" ")
        statuses[int(status)] = statuses.get(int(status), 0) + 1
        if status in ("200", "201"):
            sent[f"evt_open_{int(n):08d}"] = float(at)
    return sent, {
        "rate_per_s": rate,
        "requests": int(rate * seconds),
        "statuses": statuses,  # 0: no answer (connection refused or cut)
        "lost_by_the_client": int(rate * seconds) - sum(statuses.values()),
        "load_generator": f"uvloop open-loop client (bench/relay.py), {connections} connections",
        "load_generator_cpu_percent": round(100 * cpu / wall, 1),
    }


# -- the runs -----------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    q = statistics.quantiles(values, n=100)
    return {
        "p50_ms": round(q[49], 1),
        "p90_ms": round(q[89], 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(max(values), 1),
    }


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def renkei_run(args: argparse.Namespace, workdir: Path, nice: list[str]) -> dict[str, Any]:
    from renkei.security.keyring import generate_key

    receiver = ReceiverProcess(workdir, "renkei")
    with harness.database(args.database_url, workdir, "relay") as url:
        port = free_port()
        log = workdir / "serve.log"
        command = [*nice, sys.executable, "-m", "renkei", "serve", "--port", str(port)]
        if args.processes:
            command += ["--processes", str(args.processes)]
        env = {
            **os.environ,
            "RENKEI_DATABASE_URL": url,
            "RENKEI_SECRET_KEY": generate_key(),
            "RENKEI_ADMIN_TOKEN": ADMIN_TOKEN,
            "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
            "RENKEI_LOG_LEVEL": "warning",
            "RENKEI_DATA_DIR": str(workdir),
        }
        serve = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/healthz", serve, log)
            created = httpx.post(
                f"{base}/api/v1/endpoints",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                json={"name": "relay", "url": receiver.url},
            )
            created.raise_for_status()
            time.sleep(2)  # every process sees the endpoint (endpoint_refresh_seconds)
            profiler = start_profiler(args, serve.pid, workdir)
            with MemorySampler(serve.pid) as memory:
                cpu_before = cpu_seconds(descendants(serve.pid))
                delivered_before = receiver.received()
                sent: dict[str, float] = {}
                if args.rate:
                    load_started = time.monotonic()
                    sent, load = open_loop(
                        port, args.rate, args.seconds, args.open_connections, workdir
                    )
                    duration = time.monotonic() - load_started
                else:
                    script = wrk_script(workdir / "publish.lua", ADMIN_TOKEN)
                    load = run_wrk(
                        f"{base}/api/v1/events", script, args.connections, args.duration, nice
                    )
                    duration = load["wall_s"]
                delivered_during = receiver.received() - delivered_before
                load_ended = time.time()
                cpu_during = cpu_seconds(descendants(serve.pid)) - cpu_before
                rss_at_end = memory_mb(descendants(serve.pid))[0]
                profile = finish_profiler(profiler, args)
                accepted = count_events(url)
                while time.time() - load_ended < args.drain_timeout:
                    if receiver.received() >= accepted:
                        break
                    time.sleep(0.05)
                cpu_relay = cpu_seconds(descendants(serve.pid)) - cpu_before
                processes = memory.processes
                peak, peak_pss = memory.peak, memory.peak_pss
        finally:
            stop(serve)
        arrivals = receiver.stop()
    if args.rate:
        first: dict[str, float] = {}
        for webhook_id, at, _ in arrivals:
            first.setdefault(webhook_id, at)
        latencies = [(first[i] - sent[i]) * 1000 for i in sent if i in first]
        latency_from = "the moment the publish request was due (open loop)"
    else:
        latencies = [(at - _stamp(stamp)) * 1000 for _, at, stamp in arrivals if stamp != "-"]
        latency_from = "the event's timestamp (the server took the publish)"
    return {
        "server": " ".join(command[len(nice) + 1 :]),
        "processes": processes,
        "load": load,
        "duration_s": round(duration, 2),
        "accepted": accepted,
        "accepted_per_s": round(accepted / duration, 1),
        "delivered_during_load": delivered_during,
        "delivered_per_s": round(delivered_during / duration, 1),
        "delivered_over_accepted": round(delivered_during / accepted, 3) if accepted else None,
        "backlog_at_end_of_load": accepted - delivered_during,
        # From the end of the load to the last arrival (the receiver's clock).
        "drain_s": round(max(0.0, max(at for _, at, _ in arrivals) - load_ended), 2)
        if len(arrivals) >= accepted
        else f"> {args.drain_timeout}",
        "delivered_total": len({i for i, _, _ in arrivals}),
        "latency": {"from": latency_from, **percentiles(sorted(latencies))},
        "server_cpu_percent_during_load": round(100 * cpu_during / duration, 1),
        # CPU of every renkei process from the start of the load until the last delivery,
        # per event: steadier than the rates on a machine other work shares.
        "server_cpu_us_per_relayed_event": round(1e6 * cpu_relay / accepted, 1)
        if accepted
        else None,
        "rss_mb": {"peak_all_processes": peak, "at_end_of_load": rss_at_end},
        "pss_mb": {"peak_all_processes": peak_pss},
        **({"profile": profile} if profile else {}),
    }


# -- profile (py-spy) ---------------------------------------------------------------------------


def start_profiler(
    args: argparse.Namespace, pid: int, workdir: Path
) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` of every renkei process for the length of the load (``--profile``)."""
    if not args.profile:
        return None
    seconds = args.seconds if args.rate else args.duration
    return harness.start_profiler(pid, args.profile, seconds, workdir / "py-spy.log")


def finish_profiler(
    profiler: subprocess.Popen[bytes] | None, args: argparse.Namespace
) -> dict[str, Any] | None:
    """The top functions of the profile: by own samples, and by samples under them."""
    if profiler is None:
        return None
    profiler.wait(120)
    return harness.profile_top(args.profile, args.profile_top)


# -- Node-RED -----------------------------------------------------------------------------------


def ensure_node_red() -> Path:
    red = NODE_RED_HOME / "node_modules" / "node-red" / "red.js"
    if red.exists():
        return red
    if not shutil.which("npm"):
        raise SystemExit(
            "--peer node-red needs node and npm (Debian: apt-get install -y nodejs npm)"
        )
    NODE_RED_HOME.mkdir(parents=True, exist_ok=True)
    package = NODE_RED_HOME / "package.json"
    if not package.exists():
        package.write_text('{"name": "renkei-bench-node-red", "private": true}\n')
    print(f"bench/relay.py: installing Node-RED 4 into {NODE_RED_HOME}", file=sys.stderr)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--omit=dev", "node-red@4"],
        cwd=NODE_RED_HOME,
        check=True,
        timeout=600,
    )
    return red


def node_red_flow(receiver_url: str) -> list[dict[str, Any]]:
    return [
        {"id": "relay-tab", "type": "tab", "label": "relay"},
        {
            "id": "in", "type": "http in", "z": "relay-tab", "url": "/relay", "method": "post",
            "upload": False, "wires": [["request"]],
        },
        {
            "id": "request", "type": "http request", "z": "relay-tab", "method": "POST",
            "ret": "txt", "url": receiver_url, "persist": True, "paytoqs": "ignore",
            "senderr": False, "headers": [], "wires": [["out"]],
        },
        {"id": "out", "type": "http response", "z": "relay-tab", "statusCode": "", "headers": {}, "wires": []},
    ]  # fmt: skip


def node_red_run(args: argparse.Namespace, workdir: Path, nice: list[str]) -> dict[str, Any]:
    red = ensure_node_red()
    receiver = ReceiverProcess(workdir, "node-red")
    home = workdir / "node-red"
    home.mkdir()
    (home / "flows.json").write_text(json.dumps(node_red_flow(receiver.url)))
    port = free_port()
    log = workdir / "node-red.log"
    command = [*nice, "node", str(red), "--userDir", str(home), "--port", str(port), "flows.json"]
    process = subprocess.Popen(command, cwd=home, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process, log)
        with MemorySampler(process.pid) as memory:
            script = wrk_script(workdir / "relay.lua", None)
            load = run_wrk(
                f"http://127.0.0.1:{port}/relay", script, args.connections, args.duration, nice
            )
            delivered = receiver.received()
        peak, peak_pss = memory.peak, memory.peak_pss
    finally:
        stop(process)
    receiver.stop()
    duration = load["wall_s"]
    accepted = load["requests"] - load["non_2xx"]
    return {
        "server": "Node-RED 4: http in → http request (keep-alive) → http response",
        "version": json.loads((red.parent / "package.json").read_text())["version"],
        "load": load,
        "accepted_per_s": round(accepted / duration, 1),
        "delivered_per_s": round(delivered / duration, 1),
        "rss_mb": {"peak": peak},
        "pss_mb": {"peak": peak_pss},
    }


def against_node_red(
    args: argparse.Namespace, workdir: Path, nice: list[str], rounds: int
) -> dict[str, Any]:
    """Renkei and Node-RED, alternated ``rounds`` times; the last round's full results."""
    runs: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    for number in range(1, rounds + 1):
        folder = workdir / f"round-{number}"
        folder.mkdir()
        order = ("renkei", "node_red") if number % 2 else ("node_red", "renkei")
        for name in order:
            run = renkei_run if name == "renkei" else node_red_run
            result[name] = run(args, folder, nice)
        ratio = result["renkei"]["delivered_per_s"] / result["node_red"]["delivered_per_s"]
        runs.append(
            {
                "first": order[0],
                "renkei_delivered_per_s": result["renkei"]["delivered_per_s"],
                "renkei_cpu_us_per_event": result["renkei"]["server_cpu_us_per_relayed_event"],
                "renkei_rss_mb": result["renkei"]["rss_mb"]["peak_all_processes"],
                "node_red_delivered_per_s": result["node_red"]["delivered_per_s"],
                "ratio": round(ratio, 2),
            }
        )
    result["ratio_delivered_per_s"] = statistics.median(run["ratio"] for run in runs)
    if rounds > 1:
        result["rounds"] = runs
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of wrk load (≤ 120)")
    parser.add_argument("--rate", type=float, help="open loop at this many events/s instead of wrk")
    parser.add_argument("--seconds", type=float, default=20.0, help="open loop: seconds (≤ 120)")
    parser.add_argument(
        "--open-connections", type=int, default=64, help="open loop: kept-alive connections"
    )
    parser.add_argument(
        "--processes", type=int, help="renkei serve --processes N (default: its own)"
    )
    parser.add_argument("--database-url", help="PostgreSQL server (admin URL); default SQLite")
    parser.add_argument("--peer", choices=["node-red"], help="also relay through this peer")
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --peer: alternate the two this many times"
    )
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument(
        "--profile", help="py-spy record every renkei process during the load into this file"
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--nice",
        type=int,
        default=-15 if os.geteuid() == 0 else 0,
        help="niceness of the servers and the load generator (default -15 as root)",
    )
    args = parser.parse_args()
    args.duration = min(args.duration, 120.0)
    args.seconds = min(args.seconds, 120.0)
    if not args.rate:
        ensure_wrk()
    if args.peer:
        ensure_wrk()
    nice = ["nice", "-n", str(args.nice)] if args.nice else []
    result: dict[str, Any] = {
        "machine": harness.machine(),
        "backend": "postgresql" if args.database_url else "sqlite",
        "mode": f"open loop at {args.rate:g}/s"
        if args.rate
        else f"wrk, {args.connections} connections",
        "nice": args.nice,
    }
    workdir = Path(tempfile.mkdtemp(prefix="renkei-relay-"))
    try:
        if args.peer == "node-red":
            result.update(against_node_red(args, workdir, nice, max(1, min(args.rounds, 10))))
        else:
            result["renkei"] = renkei_run(args, workdir, nice)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    harness.print_json(result)


if __name__ == "__main__":
    main()
