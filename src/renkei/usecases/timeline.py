"""What happened to one event, in one timeline: its webhook deliveries with every attempt,
the flow runs it started with each step's input and output, the connector calls those
steps submitted (with each record's outcome), and the changes realtime syncs made for it.
The dashboard's event page shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from renkei.connectors.batching import Submission
from renkei.delivery import queries
from renkei.delivery.endpoints import get_endpoint
from renkei.errors import NotFound
from renkei.events import history
from renkei.usecases.access import Actor, require

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["Entry", "Timeline", "timeline"]

ATTEMPTS_PER_DELIVERY = 50


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline: ``kind`` is ``received``, ``delivery``, ``attempt``,
    ``flow_run``, ``step``, ``connector_call`` or ``sync_change``; ``item`` is what the kind's owner says."""

    at: datetime
    kind: str
    item: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timeline:
    event: dict[str, Any]  # as the log lists it (``events.history.event_dict``)
    entries: list[Entry] = field(default_factory=list)  # oldest first


def _moment(value: Any) -> datetime:
    """A row's datetime or an RFC 3339 string, as an aware datetime (to sort by)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _submission_id(step: dict[str, Any]) -> str | None:
    """A connector action's submission (its input names a connection and an operation)."""
    given, output = step.get("input"), step.get("output")
    if not isinstance(given, dict) or "connection" not in given or not isinstance(output, dict):
        return None
    found = output.get("submission_id")
    return str(found) if found else None


def _call(step: dict[str, Any], submission: Submission) -> dict[str, Any]:
    return {
        "step": step["step"],
        "connection": step["input"]["connection"],
        "operation": submission.operation,
        "submission_id": submission.id,
        "total": submission.total,
        "counts": dict(submission.counts),
        "records": [
            {
                "position": record.position,
                "status": record.status,
                "vendor_id": record.vendor_id,
                "error": record.error_message,
            }
            for record in submission.records
        ],
        "finished_at": submission.finished_at,
    }


async def timeline(hub: Hub, actor: Actor, event_id: str) -> Timeline:
    """The event and everything it caused, oldest first (each owner asked through its
    service: deliveries of ``hub.webhooks``, runs of ``hub.flows``, submissions of
    ``hub.connectors``, changes of ``hub.syncs``)."""
    require(actor, "read")
    async with hub.database.read() as connection:
        row = await history.get_event(connection, event_id)
        if row is None:
            raise NotFound("event", event_id)
        event = history.event_dict(row)
        deliveries = await hub.webhooks.deliveries_of_event(connection, event_id)
        names: dict[str, str | None] = {}
        for delivery in deliveries:
            endpoint_id = str(delivery["endpoint_id"])
            if endpoint_id not in names:
                try:
                    names[endpoint_id] = (
                        await get_endpoint(connection, hub.keyring, endpoint_id)
                    ).name
                except NotFound:
                    names[endpoint_id] = None  # deleted since
            delivery["endpoint_name"] = names[endpoint_id]
            delivery["attempt_list"] = list(
                reversed(
                    await queries.list_attempts(
                        connection, delivery_id=delivery["id"], limit=ATTEMPTS_PER_DELIVERY
                    )
                )
            )
        runs = await hub.flows.runs_for_event(connection, event_id)
        changes = await hub.syncs.changes_of_event(connection, event_id)
    entries = [Entry(_moment(row.received_at), "received", event)]
    for delivery in deliveries:
        entries.append(Entry(_moment(delivery["created_at"]), "delivery", delivery))
        entries.extend(
            Entry(_moment(attempt["started_at"]), "attempt", {**attempt, "delivery": delivery})
            for attempt in delivery["attempt_list"]
        )
    for run in runs:
        entries.append(Entry(_moment(run["started_at"]), "flow_run", run))
        for step in run.get("steps", []):
            entries.append(Entry(_moment(step["started_at"]), "step", {**step, "run": run}))
            submission_id = _submission_id(step)
            submission = await hub.connectors.submission(submission_id) if submission_id else None
            if submission is not None:
                entries.append(
                    Entry(_moment(submission.created_at), "connector_call", _call(step, submission))
                )
    entries.extend(Entry(_moment(change["at"]), "sync_change", change) for change in changes)
    order = {"received": 0, "delivery": 1, "flow_run": 1, "attempt": 2, "step": 2}
    entries.sort(key=lambda entry: (entry.at, order.get(entry.kind, 3)))
    return Timeline(event, entries)
