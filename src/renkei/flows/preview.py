"""Preview: run a flow over a sample event with effects that send nothing.

Returns whether the trigger matches, every step's input and output, and the exact HTTP
requests the run would make (headers that carry secrets redacted); when the trigger does
not match, status ``skipped`` with no steps and no requests. Delays are reported, not
waited for; an HTTP step's response can be supplied per step id (``responses``) to preview
what later steps would do with it.
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

# An idempotency key is a deduplication key the flow computes (``{{ event.id }}``), not a
# credential: a preview shows it so its author can check it. Elsewhere (logs, attempt
# records) the one secret-name rule still redacts it; secret-looking values stay redacted.
_READABLE = frozenset({"idempotency-key", "idempotency_key"})


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
    if not matched:
        # No run would start, so no step runs and nothing would be sent: showing what the
        # steps would do anyway contradicts the trigger's answer.
        return {
            "trigger": {"matched": False},
            "status": "skipped",
            "error": None,
            "steps": [],
            "requests": [],
            "sent": 0,
        }
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
                outcome.input if outcome.input is not None else {"data": state.data},
                known=known,
                readable=_READABLE,
            ),
            output=redact(outcome.output, known=known, readable=_READABLE),
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
        "requests": redact(effects.requests, known=known, readable=_READABLE),
        "sent": 0,
    }
