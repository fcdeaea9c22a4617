"""Tasks and periodic schedules, declared by the feature modules at start-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from renkei.backoff import Backoff
from renkei.queue.errors import UnknownTask
from renkei.queue.ticks import is_valid_cron

if TYPE_CHECKING:
    from renkei.queue.worker import JobContext

TaskFunction = Callable[["JobContext"], Awaitable[None]]
DeadLetterHook = Callable[["JobContext", str], Awaitable[None]]
"""``(context, error)``: called when a job fails for good, to mark what it belonged to."""


@dataclass(frozen=True)
class Task:
    name: str
    function: TaskFunction
    queue: str = "default"
    retry: Backoff | None = None
    on_dead: DeadLetterHook | None = None
    """Called once a job of this task fails for good (no attempt left, or ``GiveUp``), with
    the error: the delivery, run or sync the job belonged to then shows it failed, and why,
    instead of waiting for a job that will never run again."""
    take_at_enqueue: bool = False
    """A job of this task that is due at once and has no dedupe key may be taken by the
    enqueuing process's own worker, in the enqueuing transaction, instead of waiting for a
    claim (:meth:`JobQueue.enqueue_many`): for tasks whose order of start does not matter."""


@dataclass(frozen=True)
class Periodic:
    """Enqueue ``task`` once per tick, however many workers run."""

    name: str
    task: str
    every_seconds: float | None = None
    cron: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.every_seconds is None) == (self.cron is None):
            raise ValueError(f"periodic {self.name!r} needs exactly one of every_seconds or cron")
        if self.every_seconds is not None and self.every_seconds <= 0:
            raise ValueError(f"periodic {self.name!r}: every_seconds must be > 0")
        if self.cron is not None and not is_valid_cron(self.cron):
            raise ValueError(f"periodic {self.name!r}: invalid cron expression {self.cron!r}")


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._periodics: dict[str, Periodic] = {}

    def task(
        self,
        name: str,
        *,
        queue: str = "default",
        retry: Backoff | None = None,
        on_dead: DeadLetterHook | None = None,
        take_at_enqueue: bool = False,
    ) -> Callable[[TaskFunction], TaskFunction]:
        def register(function: TaskFunction) -> TaskFunction:
            self.add(Task(name, function, queue, retry, on_dead, take_at_enqueue))
            return function

        return register

    def add(self, task: Task) -> None:
        if task.name in self._tasks and self._tasks[task.name].function is not task.function:
            raise ValueError(f"task {task.name!r} is registered twice")
        self._tasks[task.name] = task

    def periodic(self, periodic: Periodic) -> None:
        if periodic.task not in self._tasks:
            raise UnknownTask(periodic.task)
        self._periodics[periodic.name] = periodic

    def get(self, name: str) -> Task:
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(name) from None

    def find(self, name: str) -> Task | None:
        return self._tasks.get(name)

    @property
    def queues(self) -> set[str]:
        return {task.queue for task in self._tasks.values()}

    @property
    def periodics(self) -> list[Periodic]:
        return list(self._periodics.values())
