"""``install(hub, requests)``: the ``privacy.delete`` task, whose ``on_dead`` hook fails
the request with the job's error (and drops what identified the person)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.privacy.requests import DELETE_TASK
from renkei.queue import JobContext

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.privacy.requests import PrivacyRequests

__all__ = ["install"]


def install(hub: Core, requests: PrivacyRequests) -> None:
    async def run(ctx: JobContext) -> None:
        await requests.run(str(ctx.payload["r"]))

    async def died(ctx: JobContext, error: str) -> None:
        await requests.fail(str(ctx.payload["r"]), error)

    hub.registry.task(DELETE_TASK, queue="privacy", on_dead=died)(run)
