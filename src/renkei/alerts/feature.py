"""``install(hub, alerts)``: failure events open alerts (fan-out), the ``alerts.evaluate``
periodic checks the rules and resolves quiet alerts (docs/operations.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.alerts.evaluator import EVALUATE_TASK
from renkei.alerts.triggers import fanout_handler
from renkei.queue import JobContext, Periodic

if TYPE_CHECKING:
    from renkei.alerts.service import Alerts
    from renkei.core import Core

__all__ = ["QUEUE", "install"]

QUEUE = "alerts"


def install(hub: Core, alerts: Alerts) -> None:
    async def run_evaluation(ctx: JobContext) -> None:
        await alerts.evaluate()

    hub.registry.task(EVALUATE_TASK, queue=QUEUE)(run_evaluation)
    hub.registry.periodic(
        Periodic(EVALUATE_TASK, EVALUATE_TASK, every_seconds=hub.settings.alert_evaluate_seconds)
    )
    hub.fanout.append(fanout_handler(hub))
