"""Running a worker as a process: signals, wake-ups, and a clean stop."""

from __future__ import annotations

import asyncio
import signal

from renkei.queue.wakeup import listen_for_jobs, wake_on_commit
from renkei.queue.worker import Worker


async def run_worker(worker: Worker, *, handle_signals: bool = True) -> None:
    """Run until SIGTERM/SIGINT: then stop claiming and finish or release in-flight jobs."""
    database = worker.queue.database
    wake_on_commit(database, worker.wakeup, busy=worker.saturated)
    listener = listen_for_jobs(database, worker.wakeup)
    await listener.start()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
    try:
        await worker.run()
    finally:
        await listener.stop()
