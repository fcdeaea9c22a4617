"""``renkei serve --processes N``: N real children on one port, a supervisor that replaces a
killed one, and a SIGTERM that stops them all; no acknowledged event is lost either way
(checked by ``webhook-id`` at a real receiver on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from renkei.security.keyring import generate_key
from renkei.supervisor import remove_stale_metrics_dirs
from tests.delivery.webhook_receiver import Answer, Received, Receiver, ok, verify, wait_until
from tests.support.postgres import PrivatePostgres
from tests.support.server import ADMIN_TOKEN, free_port

pytestmark = pytest.mark.slow
PROCESSES = 2


class Served:
    """``renkei serve --processes 2`` in its own process, logging to ``serve-N.log``."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int, run: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"serve-{run}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "renkei", "serve", "--port", str(port)),
                *("--processes", str(PROCESSES)),
            ],
            env=env,
            cwd=cwd,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self.healthy, timeout=60, interval=0.1)
        wait_until(lambda: len(self.children()) == PROCESSES, timeout=30, interval=0.1)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def children(self) -> set[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in path.read_text().split()}
        except FileNotFoundError:
            return set()

    def workers_started(self) -> set[int]:
        """Pids whose worker said it started (every child runs one)."""
        return {
            int(line.split('"pid": ')[1].split(",")[0].rstrip("}"))
            for line in self.log.read_text().splitlines()
            if '"worker.started"' in line and '"pid": ' in line
        }

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


class Publisher:
    """Threads publishing ``order.paid`` events; remembers what was acknowledged (201)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acknowledged: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._publish) for _ in range(4)]

    def _publish(self) -> None:
        with httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(
                        "/api/v1/events", json={"type": "order.paid", "data": {"n": 1}}
                    )
                except httpx.HTTPError:
                    continue  # a connection the stopping or killed child held
                if response.status_code == 201:
                    with self._lock:
                        self.acknowledged.add(response.json()["id"])

    def __enter__(self) -> Publisher:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)


@contextmanager
def relay(
    database_url: str, tmp_path: Path, behaviour: Callable[[Received, int], Answer] = ok
) -> Iterator[tuple[dict[str, str], int, Receiver]]:
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": database_url,
        "RENKEI_ADMIN_TOKEN": ADMIN_TOKEN,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_ALLOW_PRIVATE_TARGETS": "true",
        "RENKEI_LOG_FORMAT": "json",
        "RENKEI_RETRY_SCHEDULE": "0.5,1,2,4",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("RENKEI_PROCESSES", None)
    with Receiver(behaviour) as receiver:
        yield env, free_port(), receiver


def make_endpoint(served: Served, receiver: Receiver) -> str:
    with httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    ) as client:
        endpoint = client.post("/api/v1/endpoints", json={"name": "crm", "url": receiver.url})
        assert endpoint.status_code == 201, endpoint.text
        return str(client.get(f"/api/v1/endpoints/{endpoint.json()['id']}/secret").json()["key"])


def assert_delivered_once_each(receiver: Receiver, secret: str, acknowledged: set[str]) -> None:
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in receiver.snapshot():
        verify(secret, request)
        bodies[request.webhook_id].add(request.body)
    assert acknowledged <= set(bodies)
    # A duplicate (an attempt in flight in the killed child) is the same signed message.
    assert all(len(variants) == 1 for variants in bodies.values())


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_child_is_replaced_and_every_acknowledged_event_delivered(
    database_url: str, tmp_path: Path
) -> None:
    with relay(database_url, tmp_path) as (env, port, receiver):
        served = Served(env, tmp_path, port, 1)
        try:
            children = served.children()
            assert len(children) == PROCESSES
            wait_until(lambda: served.workers_started() >= children, timeout=30, interval=0.1)
            secret = make_endpoint(served, receiver)

            with Publisher(served.url) as publisher:
                wait_until(lambda: len(receiver.requests) >= 200, timeout=60, interval=0.01)
                victim = min(children)
                os.kill(victim, signal.SIGKILL)
                wait_until(
                    lambda: len(served.children()) == PROCESSES and victim not in served.children(),
                    timeout=30,
                    interval=0.05,
                )
                replacement = served.children() - children
                wait_until(
                    lambda: replacement <= served.workers_started(), timeout=30, interval=0.1
                )
                acknowledged_at_kill = publisher.count()
                wait_until(
                    lambda: publisher.count() >= acknowledged_at_kill + 200,
                    timeout=60,
                    interval=0.01,
                )
            acknowledged = publisher.acknowledged
            wait_until(lambda: acknowledged <= set(receiver.ids()), timeout=60, interval=0.1)
            assert_delivered_once_each(receiver, secret, acknowledged)
            assert "supervisor.child_died" in served.log.read_text()

            survivors = served.children()
            assert served.terminate() == 0, served.log.read_text()[-4000:]
            assert all(gone(pid) for pid in survivors)
        finally:
            if served.process.poll() is None:
                served.process.kill()


def test_sigterm_stops_every_child_and_loses_nothing_acknowledged(
    database_url: str, tmp_path: Path
) -> None:
    with relay(database_url, tmp_path) as (env, port, receiver):
        first = Served(env, tmp_path, port, 1)
        try:
            children = first.children()
            secret = make_endpoint(first, receiver)
            with Publisher(first.url) as publisher:
                wait_until(lambda: len(receiver.requests) >= 200, timeout=60, interval=0.01)
                # Stopped under load: requests and deliveries are in flight in both children.
                assert first.terminate() == 0, first.log.read_text()[-4000:]
            assert all(gone(pid) for pid in children)
            log = first.log.read_text()
            assert log.count('"worker.stopped"') == PROCESSES, log[-4000:]
        finally:
            if first.process.poll() is None:
                first.process.kill()

        acknowledged = publisher.acknowledged
        assert acknowledged
        # What was accepted and not yet sent waits in the database for the next start.
        second = Served(env, tmp_path, port, 2)
        try:
            wait_until(lambda: acknowledged <= set(receiver.ids()), timeout=60, interval=0.1)
        finally:
            second.terminate()
        assert_delivered_once_each(receiver, secret, acknowledged)


def run_supervisor(
    body: str, tmp_path: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "supervised.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=timeout
    )


def test_a_child_that_keeps_dying_young_stops_the_supervisor(tmp_path: Path) -> None:
    done = run_supervisor(
        """
        from renkei.supervisor import supervise

        raise SystemExit(supervise(2, lambda slot: 1))
        """,
        tmp_path,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "supervisor.giving_up" in done.stdout + done.stderr


def test_a_second_sigint_forces_the_children(tmp_path: Path) -> None:
    """A child that would take its time stopping (the first SIGTERM) is stopped by the
    second Ctrl-C: the supervisor passes it on as SIGINT."""
    marker = tmp_path / "ready"
    done = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import os, pathlib, signal, time
            from renkei.supervisor import supervise

            def child(slot):
                signal.signal(signal.SIGTERM, lambda *_: None)  # "draining", for ever
                pathlib.Path({str(marker)!r} + str(slot)).touch()
                while True:
                    time.sleep(0.05)

            raise SystemExit(supervise(2, child))
            """),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: all(Path(f"{marker}{slot}").exists() for slot in range(2)),
            timeout=30,
            interval=0.05,
        )
        done.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert done.poll() is None  # the children ignore SIGTERM: still running
        done.send_signal(signal.SIGINT)
        output, _ = done.communicate(timeout=30)
    finally:
        if done.poll() is None:
            done.kill()
    assert done.returncode == 0, output
    assert '"forwarding": "SIGINT"' in output or "forwarding=SIGINT" in output, output


@pytest.mark.parametrize("value", ["0", "65", "all"])
def test_a_bad_renkei_processes_is_one_line(tmp_path: Path, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "renkei", "serve", "--port", str(free_port())],
        env={
            **os.environ,
            "RENKEI_PROCESSES": value,
            "RENKEI_DATABASE_URL": f"sqlite:///{tmp_path / 'renkei.db'}",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: invalid configuration: RENKEI_PROCESSES"), done.stderr


def test_renkei_worker_runs_the_processes_asked_for_and_stops_them(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": f"sqlite:///{tmp_path / 'renkei.db'}",
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_LOG_FORMAT": "json",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    migrated = subprocess.run(
        [sys.executable, "-m", "renkei", "migrate"], env=env, cwd=tmp_path, capture_output=True
    )
    assert migrated.returncode == 0, migrated.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "renkei", "worker", "--processes", "2"],
        env=env,
        cwd=tmp_path,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: log.read_text().count('"worker.started"') == 2, timeout=60)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert log.read_text().count('"worker.stopped"') == 2
        assert all(gone(int(pid)) for pid in children)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """One PostgreSQL server of the module's own, for the tests that take it away."""
    postgres = PrivatePostgres().init()
    postgres.start()
    yield postgres
    postgres.destroy()


@contextmanager
def brought_back(postgres: PrivatePostgres) -> Iterator[None]:
    """Whatever the test does, the module's server runs again after it."""
    try:
        yield
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            postgres.start()  # fails when it already runs


def test_a_child_replaced_while_postgresql_is_away_waits_for_it(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """The replacement of a child killed during an outage starts without the database
    (it does not migrate: the supervisor did), answers not ready, and the service stays
    up; when PostgreSQL is back, what was acknowledged before the outage is delivered.
    Before the fix the replacement re-ran the migrations, failed its start, and five quick
    failures stopped the whole service (exit 3)."""
    accepting = threading.Event()
    delivered: set[str] = set()

    def receiver_down_until_told(request: Received, _: int) -> Answer:
        if not accepting.is_set():
            return 503
        delivered.add(request.webhook_id)
        return 200

    with (
        brought_back(private_postgres),
        relay(private_postgres.url, tmp_path, receiver_down_until_told) as (env, port, receiver),
    ):
        # Enough attempts that the refusals before the outage cannot use them all up.
        env["RENKEI_RETRY_SCHEDULE"] = ",".join(["0.5"] + ["1"] * 12)
        # An attempt whose result could not be written when the database went away runs
        # again when its lease runs out: 10 s rather than the default minute.
        env["RENKEI_LEASE_SECONDS"] = "10"
        served = Served(env, tmp_path, port, 1)
        try:
            children = served.children()
            wait_until(lambda: served.workers_started() >= children, timeout=30, interval=0.1)
            make_endpoint(served, receiver)
            with httpx.Client(
                base_url=served.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            ) as client:
                published = [
                    client.post("/api/v1/events", json={"type": "order.paid", "data": {"n": n}})
                    for n in range(20)
                ]
            assert all(answer.status_code == 201 for answer in published)
            acknowledged = {answer.json()["id"] for answer in published}
            # Every event is on its way (attempted, refused) when the database goes away.
            wait_until(lambda: acknowledged <= set(receiver.ids()), timeout=30, interval=0.1)

            private_postgres.stop()
            victim = min(children)
            os.kill(victim, signal.SIGKILL)

            def replaced() -> bool:
                assert served.process.poll() is None, served.log.read_text()[-4000:]
                now = served.children()
                return len(now) == PROCESSES and victim not in now

            wait_until(replaced, timeout=30, interval=0.05)
            replacement = served.children() - children

            def replacement_runs() -> bool:
                assert served.process.poll() is None, served.log.read_text()[-4000:]
                return replacement <= served.workers_started()

            wait_until(replacement_runs, timeout=30, interval=0.1)
            # Live, not ready, and saying why (whichever child answers).
            assert httpx.get(f"{served.url}/healthz").status_code == 200
            down = httpx.get(f"{served.url}/readyz")
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "database_unavailable"
            assert down.headers["retry-after"]

            accepting.set()
            private_postgres.start()
            wait_until(
                lambda: httpx.get(f"{served.url}/readyz").status_code == 200,
                timeout=60,
                interval=0.2,
            )
            wait_until(lambda: acknowledged <= delivered, timeout=60, interval=0.1)
            assert served.process.poll() is None
            log = served.log.read_text()
            # The replacement did not migrate (the supervisor had), so it had nothing to wait for.
            assert "hub.waiting_for_database" not in log, log[-4000:]
            assert served.terminate() == 0, served.log.read_text()[-4000:]
        finally:
            if served.process.poll() is None:
                served.process.kill()


def test_a_child_that_cannot_start_for_a_real_fault_still_stops_the_service(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """A server that answers but refuses (here: no such database, as bad settings would
    be) is a fault, not an outage: the child's start fails, and five quick failures stop
    the supervisor with exit code 3."""
    url = private_postgres.url.rsplit("/", 1)[0] + "/no_such_database"
    done = run_supervisor(
        f"""
        import renkei.api.app, renkei.dashboard  # imported once, before the children fork
        from renkei.cli.main import _serve_on
        from renkei.process import SharedFlag, listening_socket
        from renkei.security.keyring import generate_key
        from renkei.settings import Settings
        from renkei.supervisor import supervise

        settings = Settings(database_url={url!r}, secret_key=[generate_key()])
        sock = listening_socket("127.0.0.1", 0)
        migrated = SharedFlag()  # not migrated: every child's start migrates
        code = supervise(1, lambda slot: _serve_on(sock, settings, with_worker=True, migrated=migrated))
        raise SystemExit(code)
        """,
        tmp_path,
        timeout=120,
    )
    assert done.returncode == 3, done.stdout[-4000:] + done.stderr[-4000:]
    output = done.stdout + done.stderr
    assert "supervisor.giving_up" in output
    assert "hub.waiting_for_database" not in output


def test_serve_and_worker_started_while_postgresql_is_away_wait_for_it(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """One process each (`renkei serve --processes 1`, `renkei worker`), started during an
    outage: both keep running, the server live and not ready with its reason, and both
    migrate and start their worker once PostgreSQL answers."""
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": private_postgres.url,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_LOG_FORMAT": "json",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    with brought_back(private_postgres):
        private_postgres.stop()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "renkei", *command],
                env=env,
                cwd=tmp_path,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            for command, log in (
                (("serve", "--port", str(port), "--processes", "1"), serve_log),
                (("worker",), worker_log),
            )
        ]
        try:

            def waiting(log: Path) -> bool:
                assert all(p.poll() is None for p in processes), log.read_text()[-4000:]
                return '"hub.waiting_for_database"' in log.read_text()

            wait_until(lambda: waiting(serve_log) and waiting(worker_log), timeout=60)
            assert "The database is unreachable" in serve_log.read_text()
            assert httpx.get(f"{url}/healthz").status_code == 200
            down = httpx.get(f"{url}/readyz")
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "database_unavailable"
            assert "migrates the schema when it answers" in down.json()["error"]["message"]

            private_postgres.start()
            wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=60)
            for log in (serve_log, worker_log):
                wait_until(lambda log=log: '"worker.started"' in log.read_text(), timeout=60)
                assert '"hub.database_reached"' in log.read_text()
            for process in processes:
                process.send_signal(signal.SIGTERM)
            # uvicorn re-raises the signal it stopped on; the worker exits 0.
            codes = [process.wait(timeout=60) for process in processes]
            assert codes[0] in (0, -signal.SIGTERM) and codes[1] == 0, (
                serve_log.read_text()[-3000:] + worker_log.read_text()[-3000:]
            )
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()


def ingested(served: Served) -> float:
    """``renkei_ingest_events_total{path="tracking"}`` in one scrape, on a new connection
    (so any child may answer); checks that the scrape is the processes' pooled metrics."""
    text = httpx.get(f"{served.url}/metrics", timeout=30).text
    assert "process_start_time_seconds" not in text  # one process's figure: not pooled
    assert text.count("# TYPE renkei_jobs_pending gauge") == 1  # read once, not summed
    for line in text.splitlines():
        if line.startswith('renkei_ingest_events_total{path="tracking"} '):
            return float(line.split()[-1])
    return 0.0


def test_metrics_count_every_process_whichever_answers_and_survive_a_killed_child(
    tmp_path: Path,
) -> None:
    """Each scrape of ``/metrics`` under ``renkei serve --processes 2`` shows the events every
    child took (they were per child: 0, 0, 1, 1...), and a killed child's counts stay."""
    env = {
        **os.environ,
        "RENKEI_DATABASE_URL": f"sqlite:///{tmp_path / 'renkei.db'}",
        "RENKEI_ADMIN_TOKEN": ADMIN_TOKEN,
        "RENKEI_SECRET_KEY": generate_key(),
        "RENKEI_LOG_FORMAT": "json",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TMPDIR": str(tmp_path),  # where the supervisor makes its metrics directory
    }
    env.pop("RENKEI_PROCESSES", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    served = Served(env, tmp_path, free_port(), 1)
    try:
        assert len(list(tmp_path.glob("renkei-metrics-*"))) == 1
        source = httpx.post(
            f"{served.url}/api/v1/sources",
            json={"kind": "tracking", "name": "web"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        assert source.status_code == 201, source.text
        write_key = source.json()["write_key"]

        def track(n: int) -> None:
            answer = httpx.post(
                f"{served.url}/v1/track",
                json={"userId": "u1", "event": "Paid", "messageId": f"m-{n}"},
                auth=(write_key, ""),
                timeout=30,
            )
            assert answer.status_code == 200, answer.text

        events = 6
        for n in range(events):
            track(n)
        assert [ingested(served) for _ in range(6)] == [events] * 6

        victim = min(served.children())
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: len(served.children()) == PROCESSES and victim not in served.children(),
            timeout=30,
            interval=0.05,
        )
        wait_until(served.healthy, timeout=30, interval=0.1)
        assert [ingested(served) for _ in range(6)] == [events] * 6
        track(events)  # counting goes on after the replacement
        assert [ingested(served) for _ in range(6)] == [events + 1] * 6

        assert served.terminate() == 0, served.log.read_text()[-4000:]
        assert not list(tmp_path.glob("renkei-metrics-*"))
    finally:
        if served.process.poll() is None:
            served.process.kill()


def test_metrics_directories_of_killed_parents_are_removed_at_the_next_start(
    tmp_path: Path,
) -> None:
    """A ``renkei serve`` killed outright (SIGKILL, the OOM killer) leaves its metrics
    directory behind; the next one removes those whose parent is gone, never a live one's."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"renkei-metrics-{gone.pid}-abc123"
    live = tmp_path / f"renkei-metrics-{os.getpid()}-def456"
    others = [tmp_path / "renkei-metrics-notapid", tmp_path / f"unrelated-{gone.pid}-x"]
    for directory in (stale, live, *others):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"\0" * 16)
    assert remove_stale_metrics_dirs(str(tmp_path)) == [stale.name]
    assert not stale.exists()
    assert live.exists() and all(directory.exists() for directory in others)
