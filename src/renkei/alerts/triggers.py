"""The failure events that open (or bump) an alert, and the one that resolves it: a
fan-out handler, so the alert commits with the failure it counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.alerts import model
from renkei.events.envelope import Event
from renkei.events.system import (
    CONNECTION_FAILING,
    CONNECTION_NEEDS_REAUTH,
    CONNECTION_RECOVERED,
    FLOW_RUN_FAILED,
    SYNC_RUN_FAILED,
    short_reason,
)

if TYPE_CHECKING:
    from renkei.core import Core, FanoutHandler

__all__ = ["TRIGGERS", "Trigger", "fanout_handler"]


@dataclass(frozen=True)
class Trigger:
    kind: str
    subject_type: str
    subject_key: str  # where the event's data names the subject
    reason_key: str | None = "reason"


TRIGGERS: dict[str, Trigger] = {
    FLOW_RUN_FAILED: Trigger("flow_run_failed", "flow", "flow_id"),
    SYNC_RUN_FAILED: Trigger("sync_run_failed", "sync", "sync_id"),
    CONNECTION_FAILING: Trigger("connection_failing", "connection", "connection_id"),
    CONNECTION_NEEDS_REAUTH: Trigger("connection_needs_reauth", "connection", "connection_id"),
    "message.attempt.exhausted": Trigger("delivery_exhausted", "endpoint", "endpoint_id", None),
    "endpoint.disabled": Trigger("endpoint_disabled", "endpoint", "endpoint_id"),
    # By id, like the connection's other alerts (its name may change).
    "connection.quota.warning": Trigger("quota_warning", "connection", "connection_id", None),
    "connection.quota.exhausted": Trigger("quota_exhausted", "connection", "connection_id", None),
}
# Renkei records its own events as "renkei" (syncs: "renkei.syncs").
SYSTEM_SOURCE = "renkei"
_SAMPLE_KEYS = ("run_id", "delivery_id", "version", "level", "used")


def _sample(event: Event, trigger: Trigger) -> dict[str, Any]:
    """Ids and a short reason from the event: what to look at first, nothing personal."""
    data = event.data
    sample: dict[str, Any] = {"event_id": event.id, "event_type": event.type}
    sample |= {key: data[key] for key in _SAMPLE_KEYS if key in data}
    reason = data.get(trigger.reason_key) if trigger.reason_key else None
    sample["reason"] = short_reason(str(reason or event.type))
    return sample


def fanout_handler(hub: Core) -> FanoutHandler:
    async def on_events(tx: AsyncConnection, events: Sequence[Any]) -> None:
        for event in events:
            if not str(event.source_id).startswith(SYSTEM_SOURCE):
                continue  # a client publishing "flow.run.failed" opens no alert
            if event.type == CONNECTION_RECOVERED:
                await model.resolve_subject(
                    hub,
                    tx,
                    kind=TRIGGERS[CONNECTION_FAILING].kind,
                    subject_type="connection",
                    subject_id=str(event.data["connection_id"]),
                )
                continue
            trigger = TRIGGERS.get(event.type)
            subject = trigger and event.data.get(trigger.subject_key)
            if trigger is None or not subject:
                continue
            await model.observe(
                hub,
                tx,
                kind=trigger.kind,
                subject_type=trigger.subject_type,
                subject_id=str(subject),
                sample=_sample(event, trigger),
            )

    return on_events
