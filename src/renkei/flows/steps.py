"""Running one step node against a run's state; the same code serves runs and previews.

A step returns an :class:`Outcome` (what it produced, where the run goes next) or raises
:class:`~renkei.flows.effects.StepFailed`. Bad data never crashes a run: a template that
fails to render, a mapping that cannot convert, a delay field that is not a time all end
up in the run's record with the field, the value or the template line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from renkei.delivery.signing import build_headers
from renkei.egress.retry_after import parse_retry_after
from renkei.events.envelope import Event, parse_timestamp
from renkei.expr.errors import TemplateError
from renkei.expr.paths import MISSING, get_path
from renkei.flows.effects import Effects, StepFailed
from renkei.flows.http import USER_AGENT, HttpRequest, HttpResponse
from renkei.flows.scope import step_scope
from renkei.flows.spec import Action, Node
from renkei.security.redaction import REDACTED, redact

__all__ = ["Outcome", "RunState", "execute"]

_RETRYABLE = frozenset({408, 425, 429})
_NO_BODY = frozenset({"GET", "DELETE"})


@dataclass
class RunState:
    flow_id: str
    flow_name: str
    version: int
    run_id: str
    started_at: str
    event: dict[str, Any]
    data: Any
    steps: dict[str, Any]
    profile: dict[str, Any] | None
    now: datetime
    signing_secret: str

    def scope(self) -> dict[str, Any]:
        return step_scope(
            event=self.event,
            data=self.data,
            steps=self.steps,
            profile=self.profile,
            flow={"id": self.flow_id, "name": self.flow_name, "version": self.version},
            run={"id": self.run_id, "started_at": self.started_at},
        )

    def message_id(self, node: Node) -> str:
        """Stable across retries, so receivers can drop duplicates (``webhook-id``)."""
        return f"{self.run_id}.{node.id}"


@dataclass
class Outcome:
    status: str
    """``succeeded``, ``stopped`` (a filter said no) or ``waiting`` (a delay)."""
    next: int | None
    output: Any = None
    input: Any = None
    data: Any = MISSING
    """The new working record (a ``map`` step), or MISSING to keep it."""
    problems: list[dict[str, Any]] = field(default_factory=list)
    wait_until: datetime | None = None


async def execute(node: Node, state: RunState, effects: Effects) -> Outcome:
    scope = state.scope()
    try:
        if node.kind == "filter":
            assert node.filter is not None
            if node.filter.matches(scope):
                return Outcome("succeeded", node.next, {"matched": True})
            return Outcome("stopped", None, {"matched": False})
        if node.kind == "map":
            return _map(node, scope)
        if node.kind == "template":
            assert node.template is not None
            return Outcome("succeeded", node.next, node.template.render(scope))
        if node.kind == "delay":
            return _delay(node, scope, state.now)
        if node.kind == "branch":
            return _branch(node, scope)
        assert node.action is not None
        return await _action(node, node.action, scope, state, effects)
    except TemplateError as exc:
        raise StepFailed(f"{node.id}: {exc}", retry=False) from exc


def _map(node: Node, scope: dict[str, Any]) -> Outcome:
    assert node.mapping is not None
    result = node.mapping.apply(scope)
    problems = [
        {
            "field": problem.field,
            "value": problem.value,
            "conversion": problem.conversion,
            "reason": problem.reason,
        }
        for problem in result.problems
    ]
    if problems and node.on_problem == "stop":
        return Outcome("stopped", None, result.record, data=result.record, problems=problems)
    return Outcome("succeeded", node.next, result.record, data=result.record, problems=problems)


def _delay(node: Node, scope: dict[str, Any], now: datetime) -> Outcome:
    delay = node.delay
    assert delay is not None
    if delay.seconds is not None:
        until = now + timedelta(seconds=delay.seconds)
    else:
        assert delay.until is not None
        raw = get_path(scope, delay.until)
        moment = None if raw is MISSING else parse_timestamp(raw)
        if moment is None:
            shown = "missing" if raw is MISSING else f"{raw!r}, which is not a time"
            raise StepFailed(
                f"{node.id}: delay until {delay.until}: the value is {shown}",
                retry=False,
                output={"field": delay.until, "value": None if raw is MISSING else raw},
            )
        until = moment + timedelta(seconds=delay.offset_seconds)
    output = {"until": until.isoformat()}
    if until <= now:
        return Outcome("succeeded", node.next, {**output, "waited": False})
    return Outcome("waiting", node.next, {**output, "waited": True}, wait_until=until)


def _branch(node: Node, scope: dict[str, Any]) -> Outcome:
    for name, condition, head in node.paths:
        if condition is None or condition.matches(scope):
            return Outcome("succeeded", head if head is not None else node.next, {"path": name})
    return Outcome("succeeded", node.next, {"path": None})


async def _action(
    node: Node, action: Action, scope: dict[str, Any], state: RunState, effects: Effects
) -> Outcome:
    if action.kind == "url":
        hidden: frozenset[str] = frozenset()
        if action.secrets:
            # Read now, at send time; only this request sees them (never the run's record).
            revealed = await effects.secrets(node.id, sorted(action.secrets))
            hidden = frozenset(v for v in revealed.values() if v)
            scope = {**scope, "secrets": revealed}
        values = {name: value(scope) for name, value in action.values.items()}
        return await _http(node, action, values, state, effects, hidden)
    values = {name: value(scope) for name, value in action.values.items()}
    if action.kind == "endpoint":
        body = values["body"] if "body" in action.values else state.data
        event_type = values.get("event_type") or state.event.get("type") or "flow.action"
        event = _new_event(state, node, str(event_type), None, body, {})
        output = await effects.endpoint(node.id, str(values["target"]), event)
        return Outcome(
            "succeeded",
            node.next,
            output,
            input={"endpoint": values["target"], "type": event.type, "data": event.data},
        )
    if action.kind == "connector":
        payload = values["input"] if "input" in action.values else state.data
        assert action.operation is not None
        output = await effects.connector(
            node.id, str(values["target"]), action.operation, payload, state.message_id(node)
        )
        return Outcome(
            "succeeded",
            node.next,
            output,
            input={"connection": values["target"], "operation": action.operation, "input": payload},
        )
    if action.kind == "profile":
        update = values["update"] if isinstance(values["update"], dict) else {}
        traits = update.get("traits") or {}
        tags = update.get("tags") or {}
        if isinstance(tags, list):
            tags = {"add": tags}
        if not isinstance(traits, dict) or not isinstance(tags, dict):
            raise StepFailed(f"{node.id}: traits must be an object and tags a list", retry=False)
        tag_lists = {
            k: [str(t) for t in v]
            for k, v in tags.items()
            if k in ("add", "remove") and isinstance(v, list)
        }
        increments = _increments(node, update.get("increment") or {})
        output = await effects.profile(_identities(state.event), traits, tag_lists, increments)
        return Outcome("succeeded", node.next, output, input=update)
    spec = values["event"] if isinstance(values["event"], dict) else {}
    event = _new_event(
        state, node, str(spec.get("type")), spec.get("name"), spec.get("data", {}), spec
    )
    output = await effects.publish(event)
    return Outcome("succeeded", node.next, output, input=spec)


def _increments(node: Node, raw: Any) -> dict[str, int | float]:
    """``increment: {lead_score: 10}``: numbers (or numeric strings a template rendered)."""
    if not isinstance(raw, dict):
        raise StepFailed(f"{node.id}: increment must map trait names to numbers", retry=False)
    found: dict[str, int | float] = {}
    for name, value in raw.items():
        number: int | float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            text = value.strip()
            try:
                number = int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    number = None
        if number is None or number != number or number in (float("inf"), float("-inf")):
            raise StepFailed(
                f"{node.id}: increment {name}: {value!r} is not a number",
                retry=False,
                output={"field": str(name), "value": value},
            )
        found[str(name)] = number
    return found


def _identities(event: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (kind, str(event[kind]))
        for kind in ("user_id", "email", "anonymous_id")
        if isinstance(event.get(kind), str) and event[kind]
    ]


def _new_event(
    state: RunState, node: Node, event_type: str, name: Any, data: Any, spec: dict[str, Any]
) -> Event:
    def pick(key: str) -> str | None:
        value = spec.get(key, state.event.get(key))
        return str(value) if value not in (None, "") else None

    return Event(
        id=state.message_id(node),
        type=event_type,
        name=str(name) if name is not None else None,
        data=data if isinstance(data, dict) else {"value": data},
        occurred_at=state.now,
        received_at=state.now,
        source_id=state.flow_id,
        user_id=pick("user_id"),
        anonymous_id=pick("anonymous_id"),
        email=pick("email"),
    )


def _encode(body: Any, headers: dict[str, str]) -> bytes | None:
    if body is None:
        return None
    has_type = any(name.lower() == "content-type" for name in headers)
    if isinstance(body, str):
        if not has_type:
            headers["content-type"] = "text/plain; charset=utf-8"
        return body.encode()
    if not has_type:
        headers["content-type"] = "application/json"
    return orjson.dumps(body)


def build_http_request(
    node: Node, action: Action, values: dict[str, Any], state: RunState
) -> HttpRequest:
    url = str(values["target"])
    query = values.get("query")
    if isinstance(query, dict) and query:
        url += ("&" if "?" in url else "?") + urlencode(
            {str(k): "" if v is None else str(v) for k, v in query.items()}
        )
    raw_headers = values.get("headers")
    headers = (
        {str(k): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
    )
    headers.setdefault("user-agent", USER_AGENT)
    if "body" in action.values:
        body = values["body"]
    else:
        body = None if action.method in _NO_BODY else state.data
    encoded = _encode(body, headers)
    if action.sign:
        headers.update(
            build_headers(
                state.message_id(node),
                int(state.now.timestamp()),
                encoded or b"",
                [state.signing_secret],
            )
        )
    return HttpRequest(action.method, url, headers, encoded)


async def _http(
    node: Node,
    action: Action,
    values: dict[str, Any],
    state: RunState,
    effects: Effects,
    hidden: frozenset[str] = frozenset(),
) -> Outcome:
    request = build_http_request(node, action, values, state)
    response = await effects.http(node.id, request)
    sent = _hide(request.describe(), hidden)
    answered = _hide(response.describe(), hidden)
    output = {"request": sent, "response": answered}
    if effects.dry_run:
        return Outcome("succeeded", node.next, {"response": answered}, input=sent)
    _check(node, response, state.now, output, hidden)
    return Outcome("succeeded", node.next, {"response": answered}, input=sent)


def _hide(value: Any, hidden: frozenset[str]) -> Any:
    """``value`` with every secret the request used replaced by ``[redacted]``."""
    if not hidden:
        return value
    return redact(value, known=hidden) if not isinstance(value, str) else _hide_text(value, hidden)


def _hide_text(text: str, hidden: frozenset[str]) -> str:
    for secret in hidden:
        text = text.replace(secret, REDACTED)
    return text


def _check(
    node: Node,
    response: HttpResponse,
    now: datetime,
    output: Any,
    hidden: frozenset[str] = frozenset(),
) -> None:
    status = response.status
    if status is None:
        refused = (response.error or "").startswith("refused target")
        error = _hide_text(response.error or "", hidden)
        raise StepFailed(f"{node.id}: {error}", retry=not refused, output=output)
    if 200 <= status < 300:
        return
    message = f"{node.id}: the target answered HTTP {status}"
    if status in _RETRYABLE or status >= 500:
        retry_at = _retry_after(response.headers.get("retry-after"), now)
        raise StepFailed(message, retry=True, retry_at=retry_at, output=output)
    raise StepFailed(message, retry=False, output=output)


def _retry_after(value: str | None, now: datetime) -> datetime | None:
    """When ``Retry-After`` asks for the retry: delay-seconds capped at a day, an HTTP-date
    only while it is still ahead; None when absent or unreadable."""
    seconds = parse_retry_after(value, now)
    if seconds is None or value is None:
        return None
    if value.strip().isdigit():
        return now + timedelta(seconds=min(seconds, 86400))
    return now + timedelta(seconds=seconds) if seconds > 0 else None
