"""A Renkei worker process with only the connectors feature, for the multi-process tests.

    RENKEI_SECRET_KEY=... python tests/connectors/worker_main.py DATABASE_URL

Logs JSON lines to stderr; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys

from renkei.hub import Hub
from renkei.observability.logging import configure_logging
from renkei.queue.runner import run_worker
from renkei.settings import Settings


async def main(database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        worker_poll_interval=0.1,
        worker_concurrency=3,  # a few jobs each, so both processes get work
        connector_batch_wait_seconds=0.2,
        connector_max_wait_seconds=2.0,
        log_format="json",
    )
    configure_logging("info", "json")
    hub = Hub(settings)
    try:
        await run_worker(hub.new_worker(run_schedules=False))
    finally:
        await hub.database.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
