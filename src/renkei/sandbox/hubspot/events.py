"""Custom event completions: ``POST /events/v3/send`` and ``/events/v3/send/batch``
answer 204. An occurrence needs ``eventName``, ``properties`` and one of ``email``,
``utk`` or ``objectId``; a repeated ``uuid`` for the same event is dropped, since
HubSpot keeps only the first occurrence with an id."""

from __future__ import annotations

from typing import Any

from renkei.sandbox._common import Call, ViolationKind
from renkei.sandbox.hubspot.contacts import Result
from renkei.sandbox.hubspot.errors import json_object, validation
from renkei.sandbox.hubspot.properties import to_datetime
from renkei.sandbox.hubspot.state import EventCompletion, HubSpotState


def send_event(state: HubSpotState, call: Call) -> Result:
    _record(state, _completion(state, json_object(call)))
    return 204, None


def send_batch(state: HubSpotState, call: Call) -> Result:
    inputs = json_object(call).get("inputs")
    if not isinstance(inputs, list):
        raise validation("inputs is required and must be an array")
    limit = state.config.event_batch_limit
    if len(inputs) > limit:
        state.violate(ViolationKind.BATCH_SIZE, call.endpoint, f"{len(inputs)} events")
        raise validation(f"Batch input size {len(inputs)} exceeds the maximum of {limit}")
    completions = [_completion(state, item) for item in inputs]
    for completion in completions:
        _record(state, completion)
    return 204, None


def _record(state: HubSpotState, completion: EventCompletion) -> None:
    if completion.uuid is not None and any(
        e.uuid == completion.uuid and e.event_name == completion.event_name for e in state.events
    ):
        state.duplicate_events += 1
        return
    state.events.append(completion)


def _completion(state: HubSpotState, raw: Any) -> EventCompletion:
    if not isinstance(raw, dict):
        raise validation("Each event occurrence must be an object")
    name = raw.get("eventName")
    if not isinstance(name, str) or not name:
        raise validation("eventName is required")
    names = state.config.event_names
    if names is not None and name not in names:
        raise validation(f"Event definition {name} does not exist")
    properties = raw.get("properties")
    if not isinstance(properties, dict):
        raise validation("properties is required and must be an object")
    identity = {key: raw.get(key) for key in ("email", "utk", "objectId")}
    if not any(isinstance(v, str | int) and str(v) for v in identity.values()):
        raise validation("One of email, utk or objectId is required to associate the event")
    return EventCompletion(
        event_name=name,
        properties={str(k): _text(k, v) for k, v in properties.items()},
        occurred_at=_occurred_at(state, raw.get("occurredAt")),
        email=_optional(identity["email"]),
        utk=_optional(identity["utk"]),
        object_id=_optional(identity["objectId"]),
        uuid=_optional(raw.get("uuid")),
    )


def _occurred_at(state: HubSpotState, raw: Any) -> Any:
    if raw is None:
        return state.clock.now()
    moment = to_datetime(str(raw))
    if moment is None:
        raise validation(f"occurredAt {raw!r} is not a valid date-time")
    return moment


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise validation(f"Property {name} must be a string value")


def _optional(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
