"""Queue exceptions.

QueueError
├── UnknownTask          a claimed job names a task nobody registered
└── JobOutcome           raised by a task to steer its own job
    ├── RetryLater       try again at a given time (a vendor's Retry-After), not by schedule
    └── GiveUp           do not retry: the job goes straight to dead letter
"""

from __future__ import annotations

from datetime import datetime


class QueueError(Exception):
    pass


class UnknownTask(QueueError):
    def __init__(self, task: str) -> None:
        super().__init__(f"no task registered under the name {task!r}")
        self.task = task


class JobOutcome(QueueError):
    pass


class RetryLater(JobOutcome):
    """Retry after ``delay`` seconds or at ``at``, overriding the schedule for this failure.

    ``count_attempt=False`` lets waiting (a rate limit, a quota reset) not use up an attempt.
    """

    def __init__(
        self,
        reason: str,
        *,
        delay: float | None = None,
        at: datetime | None = None,
        count_attempt: bool = True,
    ) -> None:
        super().__init__(reason)
        self.delay = delay
        self.at = at
        self.count_attempt = count_attempt


class GiveUp(JobOutcome):
    """A permanent failure: retrying cannot help."""
