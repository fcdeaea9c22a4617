"""The durable job queue every delivery, flow step and sync runs on.

queue = JobQueue(database, registry, retry=Backoff.from_schedule([5, 300]))
async with database.transaction() as tx:
    ...                                   # store the event
    await queue.enqueue(tx, "deliveries.send", {"delivery_id": ...})
await Worker(queue).run()
"""

from renkei.queue.dead_letter import dead_error, dead_jobs, live_keys
from renkei.queue.errors import GiveUp, JobOutcome, QueueError, RetryLater, UnknownTask
from renkei.queue.jobs import Job, NewJob
from renkei.queue.live import (
    TaskBacklog,
    backlog_by_task,
    died_since_by_task,
    live_dedupe_keys,
    live_job_ids,
    oldest_due_by_task,
    scheduled_count,
)
from renkei.queue.manager import JobQueue
from renkei.queue.registry import Periodic, Task, TaskRegistry
from renkei.queue.ticks import is_valid_cron
from renkei.queue.wakeup import Wakeup, listen_for_jobs, wake_on_commit
from renkei.queue.worker import JobContext, Worker, WorkerOptions

__all__ = [
    "GiveUp",
    "Job",
    "JobContext",
    "JobOutcome",
    "JobQueue",
    "NewJob",
    "Periodic",
    "QueueError",
    "RetryLater",
    "Task",
    "TaskBacklog",
    "TaskRegistry",
    "UnknownTask",
    "Wakeup",
    "Worker",
    "WorkerOptions",
    "backlog_by_task",
    "dead_error",
    "dead_jobs",
    "died_since_by_task",
    "is_valid_cron",
    "listen_for_jobs",
    "live_dedupe_keys",
    "live_job_ids",
    "live_keys",
    "oldest_due_by_task",
    "scheduled_count",
    "wake_on_commit",
]
