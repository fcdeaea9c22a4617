"""Preview: run a flow over a sample event with effects that send nothing.

Returns whether the trigger matches, every step's input and output, and the exact HTTP
requests the run would make (headers that carry secrets redacted). Delays are reported,
not waited for; an HTTP step's response can be supplied per step id (``responses``) to
preview what later steps would do with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.events.envelope import format_timestamp
from renkei.expr.paths import MISSING
from renkei.flows.effects import PreviewEffects, StepFailed
from renkei.flows.spec import compile_flow
from renkei.flows.steps import RunState, execute
from renkei.security.redaction import redact

if TYPE_CHECKING:
    from renkei.flows.engine import FlowEngine

__all__ = ["preview_flow", "sample_event"]


def sample_event(given: dict[str, Any], now_text: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": "evt_preview",
        "type": "track",
        "name": None,
        "data": {},
        "occurred_at": now_text,
        "received_at": now_text,
        "source_id": None,
        "user_id": None,
        "anonymous_id": None,
        "email": None,
    }
    event.update(given)
    if not isinstance(event.get("data"), dict):
        event["data"] = {}
    return event


async def preview_flow(
    engine: FlowEngine,
    *,
    flow_id: str,
    name: str,
    version: int,
    spec: dict[str, Any],
    secret: str,
    event: dict[str, Any],
    profile: dict[str, Any] | None,
    responses: dict[str, Any],
) -> dict[str, Any]:
    hub = engine.hub
    compiled = compile_flow(spec)
    now = hub.clock.now()
    trigger = compiled.trigger
    document = {"event": event, "profile": profile or {}}
    matched = trigger.schedule is not None or trigger.accepts_type(
        str(event.get("type")), event.get("name")
    )
    if matched and trigger.filter is not None:
        matched = trigger.filter.matches(document)
    effects = PreviewEffects(hub, engine.webhooks, engine.connectors, responses=responses)
    state = RunState(
        flow_id=flow_id,
        flow_name=name,
        version=version,
        run_id="run_preview",
        started_at=format_timestamp(now),
        event=event,
        data=event.get("data"),
        steps={},
        profile=profile,
        now=now,
        signing_secret=secret,
    )
    known = frozenset({secret})
    steps: list[dict[str, Any]] = []
    index = compiled.first
    status = "succeeded"
    error = None
    while index is not None and len(steps) <= len(compiled.nodes):
        node = compiled.nodes[index]
        entry: dict[str, Any] = {"step": node.id, "kind": node.kind}
        try:
            outcome = await execute(node, state, effects)
        except StepFailed as exc:
            entry.update(
                status="failed",
                error=redact(str(exc), known=known),
                output=redact(exc.output, known=known),
            )
            steps.append(entry)
            status, error = "failed", entry["error"]
            break
        entry.update(
            status=outcome.status,
            input=redact(
                outcome.input if outcome.input is not None else {"data": state.data}, known=known
            ),
            output=redact(outcome.output, known=known),
            problems=redact(outcome.problems, known=known),
        )
        steps.append(entry)
        state.steps[node.id] = outcome.output
        if outcome.data is not MISSING:
            state.data = outcome.data
        if outcome.status == "stopped":
            status = "stopped"
            break
        index = outcome.next
    return {
        "trigger": {"matched": matched},
        "status": status,
        "error": error,
        "steps": steps,
        "requests": redact(effects.requests, known=known),
        "sent": 0,
    }
