"""What the queue stores and hands out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewJob:
    task: str
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    run_at: datetime | None = None
    dedupe_key: str | None = None
    max_attempts: int | None = None
    loaded: Any = field(default=None, compare=False, repr=False)
    """What the task would read first, at hand already (never stored): the task finds it in
    :attr:`Job.loaded` when this process's worker takes the job at enqueue."""


@dataclass(frozen=True)
class Job:
    id: int
    queue: str
    task: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    run_at: datetime
    dedupe_key: str | None
    loaded: Any = field(default=None, compare=False, repr=False)
    """:attr:`NewJob.loaded`, for a job taken at enqueue; ``None`` for a claimed one."""

    @property
    def is_last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


@dataclass(frozen=True)
class Finished:
    """A job's result, buffered by the worker and written in batches."""

    job: Job
    error: str | None = None
    retry_at: datetime | None = None
    dead: bool = False
    refund_attempt: bool = False
    written: bool = False
    """Already in the database: the task completed the job in its own transaction
    (:meth:`JobContext.complete_in`), so the worker has nothing left to write."""
