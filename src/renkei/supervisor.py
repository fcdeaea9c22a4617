"""Several processes serving one listening socket: start them, replace the dead, stop them all.

``renkei serve`` binds its socket and migrates the database in the parent, then
:func:`supervise` forks ``count`` children that each run ``serve_child(slot)`` on the
inherited socket (docs/scaling.md says why fork, and why one shared socket). The parent
only watches:

- a child that exits while the parent is not stopping is replaced in its slot (at once
  when it had run a while, after a growing pause when it keeps dying young; five deaths in
  a row within seconds of starting, or of starts that failed (exit code
  :data:`START_FAILED`, however long the start took), stop everything: the fault is not
  passing). A database that is away is not such a fault: a child starts without it, not
  ready, and waits for it (``Core.start``), so an outage cannot stop the service;
- the first SIGTERM or SIGINT asks every child to stop gracefully (SIGTERM: it finishes the
  requests it holds and its worker finishes or releases its jobs); a second SIGINT or
  SIGTERM asks them to stop now (SIGINT, uvicorn's "force"), a third kills them;
- children live in their own process group, so a terminal's Ctrl-C reaches the parent
  only and each child hears one request to stop, not two;
- a child whose parent vanishes (SIGKILL) kills itself: the service dies as one
  process would, leaving no orphan holding the port or the database;
- with ``shared_metrics``, the children count their Prometheus metrics in one directory
  (prometheus_client's multiprocess mode), so ``/metrics`` answers the sum over every
  process, whichever child takes the scrape (:func:`share_metrics`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from prometheus_client import REGISTRY, values
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import mark_process_dead

__all__ = [
    "MAX_PROCESSES",
    "METRICS_DIR_VARIABLE",
    "START_FAILED",
    "default_process_count",
    "remove_stale_metrics_dirs",
    "share_metrics",
    "supervise",
]

log = structlog.get_logger("renkei.supervisor")

MAX_PROCESSES = 64  # a typo guard (RENKEI_PROCESSES=1000), not a tuning limit
_YOUNG_SECONDS = 5.0  # a child that dies sooner than this after its start "died young"
_GIVE_UP_AFTER = 5  # deaths in a row, each young, in one slot
_FIRST_PAUSE = 0.1  # seconds before replacing a child that died young; doubles each time
_LONGEST_PAUSE = 5.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_METRICS_PREFIX = "renkei-metrics-"  # then the parent's pid: remove_stale_metrics_dirs
START_FAILED = 3
"""A child's exit code for "my start failed": it died young, however long the start took
(on a loaded machine a failing start can take longer than ``_YOUNG_SECONDS``)."""


def default_process_count() -> int:
    """The cores this process may run on (its CPU affinity, which containers narrow),
    else every core the machine has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class _Slot:
    index: int
    pid: int = 0
    started: float = 0.0
    young_deaths: int = 0
    restart_at: float | None = None


@dataclass
class _Supervisor:
    count: int
    serve_child: Callable[[int], int]
    shared_metrics: bool = False
    slots: list[_Slot] = field(default_factory=list)
    stop_requests: int = 0
    gave_up: bool = False

    def run(self) -> int:
        wake_read, wake_write = os.pipe()
        # The children's lifeline: they hold its read end; the parent's death closes the
        # write end, and the children's watcher threads read EOF.
        self.lifeline_read, self.lifeline_write = os.pipe()
        for fd in (wake_read, wake_write):
            os.set_blocking(fd, False)
        previous = {sig: signal.signal(sig, _ignore) for sig in (*_STOP_SIGNALS, signal.SIGCHLD)}
        previous_wakeup = signal.set_wakeup_fd(wake_write)
        self.wake_fds = (wake_read, wake_write)
        metrics_dir = share_metrics() if self.shared_metrics else None
        try:
            self.slots = [_Slot(index) for index in range(self.count)]
            for slot in self.slots:
                self._start(slot)
            while any(slot.pid for slot in self.slots) or not self._stopping:
                self._wait(wake_read)
                self._reap()
                self._restart_due()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for fd in (wake_read, wake_write, self.lifeline_read, self.lifeline_write):
                os.close(fd)
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)
                os.environ.pop(METRICS_DIR_VARIABLE, None)
        log.info("supervisor.stopped", processes=self.count)
        return 3 if self.gave_up else 0

    @property
    def _stopping(self) -> bool:
        return self.stop_requests > 0 or self.gave_up

    def _wait(self, wake_read: int) -> None:
        timeout = None
        due = [slot.restart_at for slot in self.slots if slot.restart_at is not None]
        if due:
            timeout = max(0.0, min(due) - time.monotonic())
        select.select([wake_read], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            for signum in os.read(wake_read, 512):
                if signum in _STOP_SIGNALS:
                    self._stop_requested(signal.Signals(signum))

    def _stop_requested(self, signum: signal.Signals) -> None:
        self.stop_requests += 1
        # Gracefully, then now (uvicorn forces on a second signal that is SIGINT), then kill.
        forward = (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)[min(self.stop_requests, 3) - 1]
        log.info(
            "supervisor.stopping",
            signal=signum.name,
            forwarding=forward.name,
            children=[slot.pid for slot in self.slots if slot.pid],
        )
        for slot in self.slots:
            slot.restart_at = None
        self._signal_children(forward)

    def _signal_children(self, signum: signal.Signals) -> None:
        for slot in self.slots:
            if slot.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, signum)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if os.environ.get(METRICS_DIR_VARIABLE):
                # Its live gauges leave the sums; its counters stay counted.
                with contextlib.suppress(OSError):
                    mark_process_dead(pid)  # type: ignore[no-untyped-call]
            slot = next((slot for slot in self.slots if slot.pid == pid), None)
            if slot is None:
                continue
            slot.pid = 0
            self._ended(slot, status)

    def _ended(self, slot: _Slot, status: int) -> None:
        how = _how_it_ended(status)
        if self._stopping:
            log.info("supervisor.child_stopped", process=slot.index, how=how)
            return
        lived = time.monotonic() - slot.started
        failed_start = os.WIFEXITED(status) and os.WEXITSTATUS(status) == START_FAILED
        young = lived < _YOUNG_SECONDS or failed_start
        slot.young_deaths = slot.young_deaths + 1 if young else 0
        if slot.young_deaths >= _GIVE_UP_AFTER:
            log.error(
                "supervisor.giving_up",
                process=slot.index,
                how=how,
                deaths=slot.young_deaths,
                within_seconds=_YOUNG_SECONDS,
            )
            self.gave_up = True
            self._signal_children(signal.SIGTERM)
            return
        pause = 0.0
        if slot.young_deaths:
            pause = min(_FIRST_PAUSE * 2 ** (slot.young_deaths - 1), _LONGEST_PAUSE)
        log.warning(
            "supervisor.child_died", process=slot.index, how=how, replacing_in_seconds=pause
        )
        slot.restart_at = time.monotonic() + pause

    def _restart_due(self) -> None:
        if self._stopping:
            return
        now = time.monotonic()
        for slot in self.slots:
            if slot.restart_at is not None and slot.restart_at <= now:
                slot.restart_at = None
                self._start(slot)

    def _start(self, slot: _Slot) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        # Objects the garbage collector never visits again keep their pages shared with
        # the child instead of copied at its first collection (the gc docs' advice).
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            os._exit(self._child(slot.index))
        slot.pid = pid
        slot.started = time.monotonic()
        log.info("supervisor.child_started", process=slot.index, child_pid=pid)

    def _child(self, index: int) -> int:
        code = 1
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            for sig in (*_STOP_SIGNALS, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            for fd in (*self.wake_fds, self.lifeline_write):
                os.close(fd)
            _die_with_parent(self.lifeline_read)
            structlog.contextvars.bind_contextvars(process=index, pid=os.getpid())
            code = self.serve_child(index)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            log.exception("supervisor.child_failed", process=index)
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
        return code


def supervise(
    count: int, serve_child: Callable[[int], int], *, shared_metrics: bool = False
) -> int:
    """Run ``serve_child(slot)`` in ``count`` forked children until SIGTERM/SIGINT; returns
    the exit code for the parent (0 after a requested stop, 3 when a child kept dying).
    ``shared_metrics``: the children pool their Prometheus metrics (:func:`share_metrics`)."""
    return _Supervisor(count, serve_child, shared_metrics).run()


def share_metrics() -> str | None:
    """Count this process's Prometheus metrics, and its future children's, in files of a
    fresh private directory (prometheus_client's multiprocess mode); returns the directory
    to remove at exit, or None when the user named one in ``PROMETHEUS_MULTIPROC_DIR`` (then
    prometheus_client shared them from its import, and the directory is the user's).

    prometheus_client picks its value class when it is imported, and the metrics made since
    (every module-level one) hold values of the old class: each is given a file-backed value
    here, before any fork. Nothing has been counted yet (the parent only migrated)."""
    if os.environ.get(METRICS_DIR_VARIABLE):
        return None
    remove_stale_metrics_dirs(tempfile.gettempdir())
    directory = tempfile.mkdtemp(prefix=f"{_METRICS_PREFIX}{os.getpid()}-")
    os.environ[METRICS_DIR_VARIABLE] = directory
    values.ValueClass = values.MultiProcessValue(_current_pid)  # type: ignore[no-untyped-call]
    for collector in list(REGISTRY._collector_to_names):
        if isinstance(collector, MetricWrapperBase):
            _give_shared_values(collector)
    return directory


_pid = os.getpid()


def _current_pid() -> int:
    """This process's pid, known without a system call: prometheus_client asks at every
    count, to find out whether it is in a new child (``os.getpid`` is a system call on
    glibc; about 3 % of a relayed event's CPU)."""
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def remove_stale_metrics_dirs(parent: str) -> list[str]:
    """Remove the metrics directories of ``renkei serve`` parents that are gone without
    removing theirs (killed: SIGKILL, the OOM killer); the names removed. A directory is
    named after its parent's pid; one whose pid is alive is left alone."""
    removed = []
    for entry in os.scandir(parent):
        pid = entry.name.removeprefix(_METRICS_PREFIX).split("-", 1)[0]
        if entry.name.startswith(_METRICS_PREFIX) and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def _give_shared_values(metric: MetricWrapperBase) -> None:
    if not metric._is_parent():  # type: ignore[no-untyped-call]
        metric._metric_init()  # type: ignore[no-untyped-call]
        return
    with metric._lock:
        children = list(metric._metrics.values())
    for child in children:
        child._metric_init()  # type: ignore[no-untyped-call]


def _die_with_parent(lifeline: int) -> None:
    """Kill this process when the parent's end of ``lifeline`` closes (the parent is gone)."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(lifeline, 1):
                pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="renkei-lifeline", daemon=True).start()


def _how_it_ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _ignore(*_: object) -> None:
    """The signal's number reaches the loop through the wake-up pipe; nothing to do here."""
