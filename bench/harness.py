"""What the bench scripts share: a webhook receiver in its own process, starting and
stopping servers, a process tree's CPU time and memory, a fresh database, the JSON they
print.

A script imports it after keeping its folder off the front of the import path (this
folder's ``queue.py`` would shadow the stdlib's)::

    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.append(str(HERE))  # last: the stdlib's modules win, ``harness`` is found
    import harness

Linux only (``/proc``); everything listens and sends on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

# -- receiver (own process) ---------------------------------------------------------------------

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _receive(sock: socket.socket, log_path: str, counter: Any, answer: bytes) -> None:
    """Answer every request at once; log ``webhook-id arrival payload-timestamp``."""
    import httptools
    import uvloop

    log = open(log_path, "w", buffering=1 << 16)  # noqa: SIM115
    marker = b'"timestamp":"'

    class Receiver(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.transport: asyncio.Transport | None = None
            self.webhook_id = b"-"
            self.body: list[bytes] = []

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_header(self, name: bytes, value: bytes) -> None:
            if name.lower() == b"webhook-id":
                self.webhook_id = value

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            at = time.time()
            body = b"".join(self.body)
            start = body.find(marker)
            stamp = body[start + len(marker) : body.find(b'"', start + len(marker))]
            if start < 0:
                stamp = b""
            log.write(f"{self.webhook_id.decode()} {at:.6f} {stamp.decode() or '-'}\n")
            self.webhook_id, self.body = b"-", []
            with counter.get_lock():
                counter.value += 1
            assert self.transport is not None
            self.transport.write(answer)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, loop.stop)
        server = await loop.create_server(Receiver, sock=sock, backlog=4096)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(RuntimeError):
        uvloop.run(main())
    log.close()


class ReceiverProcess:
    """A fast webhook receiver (raw uvloop + httptools) in a forked process: it counts
    requests and records each one's arrival time, ``webhook-id`` and payload ``timestamp``."""

    def __init__(self, workdir: Path, name: str, *, answer: bytes = NO_CONTENT) -> None:
        context = multiprocessing.get_context("fork")
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.log = workdir / f"received-{name}.log"
        self.count = context.Value("q", 0)
        self.process = context.Process(
            target=_receive, args=(self.sock, str(self.log), self.count, answer), daemon=True
        )
        self.process.start()

    def received(self) -> int:
        return int(self.count.value)

    def stop(self) -> list[tuple[str, float, str]]:
        """Stops the receiver; every request it got: (webhook-id, arrival, payload timestamp)."""
        self.process.terminate()
        self.process.join(10)
        rows = []
        for line in self.log.read_text().splitlines():
            webhook_id, at, stamp = line.split(" ")
            rows.append((webhook_id, float(at), stamp))
        return rows


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, *, timeout: float = 90
) -> None:
    """Until ``url`` answers below 500; stops the bench with the server's log if it exits
    or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: server exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url}: server did not start:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes], *, timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` (cheap: one file)."""
    with contextlib.suppress(FileNotFoundError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a scan of ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int], *, system_only: bool = False) -> float:
    """User + system CPU time of the living processes among ``pids``; ``system_only``: the
    part spent in the kernel (sockets, ``fsync``, locks)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks = int(fields[12]) + (0 if system_only else int(fields[11]))
            total += ticks / os.sysconf("SC_CLK_TCK")
    return total


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """Resident (RSS, summed) and proportional (PSS: a page shared after ``fork`` counted
    once, where a sum of RSS counts it once per process) memory of ``pids``, in MB."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return round(rss / 1024, 1), round(pss / 1024, 1)


class MemorySampler:
    """The peak of the summed RSS and PSS of a process tree, sampled every 0.5 s in a
    thread; ``processes`` is the most processes the tree had."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.peak_pss, self.processes = pid, 0.0, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            pids = descendants(self.pid)
            self.processes = max(self.processes, len(pids))
            rss, pss = memory_mb(pids)
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# -- profiles (py-spy) --------------------------------------------------------------------------


def start_profiler(
    pid: int, output: str, seconds: float, log: Path, *, rate: int = 200
) -> subprocess.Popen[bytes]:
    """``py-spy record`` of ``pid`` and its children for ``seconds``: samples of the thread
    holding the GIL (the Python work the cores share)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return subprocess.Popen(
        [py_spy, "record", "--subprocesses", "--gil", "--rate", str(rate), "--format", "raw",
         "--duration", str(int(seconds)), "--pid", str(pid), "--output", output],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def _frame(frame: str) -> str:
    """``function (path/to/package/module.py:123)`` → ``function (package/module.py)``."""
    return re.sub(r"^(.*) \((?:.*/)?((?:[^/]+/)?[^/:]+)(?::\d+)?\)$", r"\1 (\2)", frame)


def profile_top(
    path: str, top: int, *, under: Callable[[str], bool] = lambda f: "(renkei/" in f
) -> dict[str, Any]:
    """The top functions of a raw py-spy profile: by own samples, and by samples under
    them (the frames ``under`` keeps: the entry frames above them are under everything)."""
    own: dict[str, int] = {}
    below: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        # Frames are "function (path:line)"; with --subprocesses, "process N:..." come first.
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples = int(count)
        total += samples
        leaf = _frame(frames[-1])
        own[leaf] = own.get(leaf, 0) + samples
        for frame in {_frame(f) for f in frames if under(f)}:
            below[frame] = below.get(frame, 0) + samples

    def ranked(counts: dict[str, int]) -> list[str]:
        best = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return [f"{100 * n / total:5.1f}%  {name}" for name, n in best]

    return {"file": path, "samples": total, "own": ranked(own), "under": ranked(below)}


# -- databases ----------------------------------------------------------------------------------


def postgres_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A new database on the PostgreSQL server of ``admin_url``: its URL, and how to drop it."""
    import asyncpg

    name = f"renkei_bench_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return f"{admin_url.rpartition('/')[0]}/{name}", drop


@contextlib.contextmanager
def database(admin_url: str | None, workdir: Path, name: str = "bench") -> Iterator[str]:
    """A fresh database for one run, dropped afterwards: on the PostgreSQL server of
    ``admin_url``, else a new SQLite file in ``workdir``."""
    if not admin_url:
        yield f"sqlite:///{workdir / f'{name}-{uuid.uuid4().hex[:6]}.db'}"
        return
    url, drop = postgres_database(admin_url)
    try:
        yield url
    finally:
        drop()


async def count_events(url: str) -> int:
    from sqlalchemy import func, select

    from renkei.store import Database
    from renkei.store.tables import events

    db = Database(url)
    try:
        async with db.read() as connection:
            return int(
                (await connection.execute(select(func.count()).select_from(events))).scalar_one()
            )
    finally:
        await db.dispose()


# -- output -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


def print_json(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2, ensure_ascii=False))
