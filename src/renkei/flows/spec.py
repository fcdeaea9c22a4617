"""A flow spec, checked and compiled: trigger, re-eligibility and a graph of step nodes.

::

    {"name": "study-mode-to-braze",
     "trigger": {"event_types": ["track"], "names": ["Study Mode Selected"],
                 "filter": {"data.properties.mode": {"$in": ["learn", "test"]}}},
     "reeligibility": {"mode": "once", "key": "{{ event.user_id }}:{{ event.data.properties.mode }}"},
     "steps": [{"id": "body", "template": {"format": "json", "source": "..."}},
               {"id": "send", "action": {"url": "https://...", "body": "{{ steps.body }}"}}]}

Steps are flattened into nodes: a branch's paths are laid out after it, and the last node
of a path continues with the step after the branch. Every problem is collected with its
path (``steps[1].template``, ``trigger.filter.data.x``) so one save reports them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from renkei.expr.errors import TemplateError
from renkei.expr.filter import Filter, compile_filter, validate_filter
from renkei.expr.mapping import FieldMapping, compile_mapping, validate_mapping
from renkei.expr.paths import compile_path
from renkei.expr.problems import Problems
from renkei.expr.templates import Template, compile_template
from renkei.expr.values import Value, compile_value
from renkei.flows.problems import FlowSpecError
from renkei.queue import is_valid_cron

__all__ = [
    "STEP_KINDS",
    "Action",
    "CompiledFlow",
    "Delay",
    "Node",
    "Reeligibility",
    "Schedule",
    "Trigger",
    "compile_flow",
    "parse_duration",
    "validate_flow",
]

STEP_KINDS: Final = ("filter", "map", "template", "delay", "branch", "action")
ACTION_KINDS: Final = ("endpoint", "url", "connector", "profile", "publish")
TRIGGER_ROOTS: Final = ("event", "profile")
STEP_ROOTS: Final = ("event", "profile", "data", "steps", "flow", "run")
_STEP_ID: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_DURATION: Final = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*", re.ASCII)
_UNITS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_KEYS: Final = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
_TOP_KEYS: Final = frozenset(
    {"name", "description", "enabled", "trigger", "reeligibility", "steps"}
)


@dataclass(frozen=True)
class Schedule:
    every_seconds: float | None = None
    cron: str | None = None


@dataclass(frozen=True)
class Trigger:
    event_types: frozenset[str]
    names: frozenset[str] | None
    filter: Filter | None
    needs_profile: bool
    schedule: Schedule | None

    def accepts_type(self, event_type: str, name: str | None) -> bool:
        if "*" not in self.event_types and event_type not in self.event_types:
            return False
        return self.names is None or name in self.names


@dataclass(frozen=True)
class Reeligibility:
    mode: Literal["always", "once", "once_per"]
    hours: float | None
    key: Value | None


@dataclass(frozen=True)
class Delay:
    seconds: float | None
    until: str | None
    offset_seconds: float


@dataclass(frozen=True)
class Action:
    kind: str
    target: str
    """Endpoint name or id, URL template source, connection name; empty for profile/publish."""
    values: dict[str, Value]
    method: str = "POST"
    sign: bool = True
    operation: str | None = None
    secrets: frozenset[str] = frozenset()
    """Names of the secrets (``{{ secrets.NAME }}``) an HTTP action uses, read at send time."""


@dataclass
class Node:
    index: int
    id: str
    kind: str
    next: int | None = None
    filter: Filter | None = None
    mapping: FieldMapping | None = None
    on_problem: str = "continue"
    template: Template | None = None
    delay: Delay | None = None
    paths: list[tuple[str, Filter | None, int | None]] = field(default_factory=list)
    action: Action | None = None
    tails: list[Node] = field(default_factory=list)
    """Of a branch: the last node of each path, which continue where the branch does."""


@dataclass
class CompiledFlow:
    spec: dict[str, Any]
    trigger: Trigger
    reeligibility: Reeligibility
    nodes: list[Node]

    @property
    def first(self) -> int | None:
        return 0 if self.nodes else None

    @property
    def ordered(self) -> bool:
        """A flow that updates profiles runs one person's events one after another, in the
        order they were stored (see engine.py: lanes)."""
        return any(node.action is not None and node.action.kind == "profile" for node in self.nodes)


def validate_flow(spec: object) -> list[dict[str, Any]]:
    """Every problem in ``spec``, each ``{"path", "message", "operator"?, "line"?, "column"?}``."""
    problems = Problems()
    _Compiler(problems).flow(spec)
    return problems.items


def compile_flow(spec: object) -> CompiledFlow:
    problems = Problems()
    compiled = _Compiler(problems).flow(spec)
    if problems or compiled is None:
        raise FlowSpecError(problems.items or [{"path": "", "message": "invalid flow"}])
    return compiled


def parse_duration(value: object) -> float | None:
    """Seconds in ``30``, ``"90s"``, ``"15m"``, ``"24h"``, ``"-1d"``, ``{"hours": 2, "minutes": 30}``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            return None
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if isinstance(value, Mapping) and value and set(value) <= set(_DURATION_KEYS):
        total = 0.0
        for key, amount in value.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                return None
            total += float(amount) * _DURATION_KEYS[key]
        return total
    return None


class _Compiler:
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.nodes: list[Node] = []
        self.ids: set[str] = set()
        self.secret_places: list[str] = []

    def flow(self, spec: object) -> CompiledFlow | None:
        if not isinstance(spec, Mapping):
            self.problems.add("", "a flow must be an object")
            return None
        for key in sorted(set(spec) - _TOP_KEYS, key=str):
            self.problems.add(str(key), f"unknown key {key!r} in a flow")
        trigger = self.trigger(spec.get("trigger"))
        reeligibility = self.reeligibility(spec.get("reeligibility"))
        steps = spec.get("steps")
        if not isinstance(steps, list) or not steps:
            self.problems.add("steps", "steps must be a non-empty list")
        else:
            self.sequence(steps, "steps")
        self.check_secrets(spec)
        if trigger is None or reeligibility is None:
            return None
        return CompiledFlow(dict(spec), trigger, reeligibility, self.nodes)

    def check_secrets(self, spec: Mapping[str, Any]) -> None:
        """``{{ secrets.NAME }}`` only where a request is built: the URL, headers, query or
        body of an HTTP action. Anywhere else its value would end up in a run's record."""
        for path, text in _strings_in(spec, ""):
            if secret_names(text) and not any(
                path == place or path.startswith((f"{place}.", f"{place}["))
                for place in self.secret_places
            ):
                self.problems.add(
                    path,
                    f"{path}: secrets can only be used in the url, headers, query or body "
                    "of an HTTP action",
                )

    # -- trigger and re-eligibility ---------------------------------------------------------

    def trigger(self, spec: object) -> Trigger | None:
        if not isinstance(spec, Mapping):
            self.problems.add("trigger", "trigger must be an object")
            return None
        for key in sorted(set(spec) - {"event_types", "names", "filter", "schedule"}, key=str):
            self.problems.add(f"trigger.{key}", f"unknown key {key!r} in trigger")
        schedule = self.schedule(spec.get("schedule")) if "schedule" in spec else None
        types = spec.get("event_types", [] if schedule else None)
        if not _strings(types) or (not types and schedule is None):
            self.problems.add(
                "trigger.event_types", "trigger.event_types must be a non-empty list of names"
            )
            types = []
        names = spec.get("names")
        if names is not None and not _strings(names):
            self.problems.add("trigger.names", "trigger.names must be a list of event names")
            names = None
        flt = self.filter(spec.get("filter"), "trigger.filter", TRIGGER_ROOTS, "event")
        needs_profile = flt is not None and any(p.startswith("profile.") for p in flt.paths)
        return Trigger(
            frozenset(types or ()),
            frozenset(names) if names else None,
            flt,
            needs_profile,
            schedule,
        )

    def schedule(self, spec: object) -> Schedule | None:
        if not isinstance(spec, Mapping):
            self.problems.add("trigger.schedule", "trigger.schedule must be an object")
            return None
        if "cron" in spec:
            cron = spec["cron"]
            if not isinstance(cron, str) or not is_valid_cron(cron):
                self.problems.add("trigger.schedule.cron", f"invalid cron expression {cron!r}")
                return None
            return Schedule(cron=cron)
        every = parse_duration(spec.get("every"))
        if every is None or every < 60:
            self.problems.add(
                "trigger.schedule.every",
                "trigger.schedule needs cron or every (a duration of at least 60s, like 1h)",
            )
            return None
        return Schedule(every_seconds=every)

    def reeligibility(self, spec: object) -> Reeligibility | None:
        if spec is None:
            return Reeligibility("always", None, None)
        if isinstance(spec, str):
            spec = {"mode": spec}
        if not isinstance(spec, Mapping):
            self.problems.add("reeligibility", "reeligibility must be an object")
            return None
        mode = spec.get("mode", "always")
        if mode not in ("always", "once", "once_per"):
            self.problems.add(
                "reeligibility.mode", f"reeligibility.mode {mode!r} is not always, once or once_per"
            )
            return None
        hours: float | None = None
        if mode == "once_per":
            raw = spec.get("hours")
            if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
                self.problems.add("reeligibility.hours", "once_per needs hours > 0")
                return None
            hours = float(raw)
        key = spec.get("key")
        value = None
        if key is not None:
            if not isinstance(key, str) or not key.strip():
                self.problems.add(
                    "reeligibility.key", "reeligibility.key must be a template string"
                )
            else:
                value = compile_value(key, "reeligibility.key", self.problems)
        return Reeligibility(mode, hours, value)  # type: ignore[arg-type]

    # -- steps -------------------------------------------------------------------------------

    def sequence(self, steps: list[Any], where: str) -> tuple[int | None, Node | None]:
        """Lay out ``steps`` in a row; returns their first node's index and their last node.

        The last node's ``next`` is left for the caller: the end of the flow at the top
        level, the step after the branch inside a branch path.
        """
        first: int | None = None
        previous: Node | None = None
        for position, step in enumerate(steps):
            node = self.step(step, f"{where}[{position}]")
            if node is None:
                continue
            if previous is None:
                first = node.index
            else:
                _link(previous, node.index)
            previous = node
        return first, previous

    def step(self, spec: object, where: str) -> Node | None:
        if not isinstance(spec, Mapping):
            self.problems.add(where, f"{where} must be an object")
            return None
        kinds = [kind for kind in STEP_KINDS if kind in spec]
        if len(kinds) != 1:
            self.problems.add(where, f"{where} needs exactly one of: {', '.join(STEP_KINDS)}")
            return None
        kind = kinds[0]
        step_id = spec.get("id", f"{kind}_{len(self.nodes)}")
        if not isinstance(step_id, str) or not _STEP_ID.fullmatch(step_id):
            self.problems.add(
                f"{where}.id",
                f"{where}.id must be letters, digits or _ (not starting with a digit)",
            )
            step_id = f"{kind}_{len(self.nodes)}"
        elif step_id in self.ids:
            self.problems.add(f"{where}.id", f"step id {step_id!r} is used twice")
        self.ids.add(step_id)
        allowed = {"id", kind, "on_problem", "description"}
        for key in sorted(set(spec) - allowed, key=str):
            self.problems.add(f"{where}.{key}", f"unknown key {key!r} in a {kind} step")
        node = Node(len(self.nodes), step_id, kind)
        self.nodes.append(node)
        body = spec[kind]
        inner = f"{where}.{kind}"
        if kind == "filter":
            node.filter = self.filter(body, inner, STEP_ROOTS, "data") or compile_filter({})
        elif kind == "map":
            node.mapping = self.mapping(body, inner)
            on_problem = spec.get("on_problem", "continue")
            if on_problem not in ("continue", "stop"):
                self.problems.add(f"{where}.on_problem", "on_problem must be continue or stop")
            node.on_problem = str(on_problem)
        elif kind == "template":
            node.template = self.template(body, inner)
        elif kind == "delay":
            node.delay = self.delay(body, inner)
        elif kind == "branch":
            self.branch(node, body, inner)
        else:
            node.action = self.action(body, inner)
        return node

    def filter(
        self, spec: object, where: str, roots: tuple[str, ...], default_root: str
    ) -> Filter | None:
        if spec is None:
            return None
        found = validate_filter(spec, roots=roots, default_root=default_root)
        if found:
            self.problems.spec(where, found)
            return None
        return compile_filter(spec, roots=roots, default_root=default_root)

    def mapping(self, spec: object, where: str) -> FieldMapping | None:
        found = validate_mapping(spec)
        if found:
            self.problems.spec(where, found)
            return None
        return compile_mapping(spec)

    def template(self, spec: object, where: str) -> Template | None:
        if isinstance(spec, str):
            spec = {"source": spec}
        if not isinstance(spec, Mapping):
            self.problems.add(where, f"{where} must be an object with a source")
            return None
        for key in sorted(set(spec) - {"source", "format", "strict"}, key=str):
            self.problems.add(f"{where}.{key}", f"unknown key {key!r} in a template")
        source, fmt, strict = (
            spec.get("source"),
            spec.get("format", "json"),
            spec.get("strict", False),
        )
        if not isinstance(source, str):
            self.problems.add(f"{where}.source", f"{where}.source must be a string")
            return None
        if fmt not in ("json", "text"):
            self.problems.add(f"{where}.format", f"{where}.format must be json or text")
            return None
        try:
            return compile_template(source, fmt, strict=bool(strict))
        except TemplateError as exc:
            self.problems.template(where, exc)
            return None

    def delay(self, spec: object, where: str) -> Delay | None:
        seconds = parse_duration(spec)
        if seconds is not None:
            if seconds < 0:
                self.problems.add(where, f"{where} must not be negative")
            return Delay(seconds, None, 0.0)
        if isinstance(spec, Mapping) and "until" in spec:
            until = spec["until"]
            for key in sorted(set(spec) - {"until", "offset"}, key=str):
                self.problems.add(f"{where}.{key}", f"unknown key {key!r} in a delay")
            try:
                compile_path(until)
            except Exception:
                self.problems.add(f"{where}.until", f"{where}.until must be a dotted path")
                return None
            offset = parse_duration(spec.get("offset", 0))
            if offset is None:
                self.problems.add(f"{where}.offset", f"{where}.offset is not a duration")
                offset = 0.0
            return Delay(None, str(until), offset)
        self.problems.add(
            where, f"{where} must be a duration (30s, 15m, 2h, 1d, {{hours: 2}}) or {{until: path}}"
        )
        return None

    def branch(self, node: Node, spec: object, where: str) -> None:
        if isinstance(spec, Mapping):
            paths = spec.get("paths")
            default = spec.get("default")
        else:
            paths, default = spec, None
        if not isinstance(paths, list) or not paths:
            self.problems.add(f"{where}.paths", f"{where}.paths must be a non-empty list")
            return
        laid: list[tuple[str, Filter | None, list[Any], str]] = []
        for position, path in enumerate(paths):
            at = f"{where}.paths[{position}]"
            if not isinstance(path, Mapping):
                self.problems.add(at, f"{at} must be an object with when and steps")
                continue
            name = str(path.get("name", position))
            condition = path.get("when")
            flt = self.filter(condition, f"{at}.when", STEP_ROOTS, "data") if condition else None
            steps = path.get("steps", [])
            if not isinstance(steps, list):
                self.problems.add(f"{at}.steps", f"{at}.steps must be a list")
                steps = []
            laid.append((name, flt if condition else None, steps, at))
        if default is not None:
            if not isinstance(default, list):
                self.problems.add(f"{where}.default", f"{where}.default must be a list of steps")
            else:
                laid.append(("default", None, default, f"{where}.default"))
        for name, flt, steps, at in laid:
            head, last = self.sequence(steps, f"{at}.steps")
            node.paths.append((name, flt, head))
            if last is not None:
                node.tails.append(last)

    def action(self, spec: object, where: str) -> Action | None:
        if not isinstance(spec, Mapping):
            self.problems.add(where, f"{where} must be an object")
            return None
        kinds = [kind for kind in ACTION_KINDS if kind in spec]
        if len(kinds) != 1:
            self.problems.add(where, f"{where} needs exactly one of: {', '.join(ACTION_KINDS)}")
            return None
        kind = kinds[0]
        allowed = _ACTION_KEYS[kind]
        for key in sorted(set(spec) - allowed - {kind}, key=str):
            self.problems.add(f"{where}.{key}", f"unknown key {key!r} in a {kind} action")
        values = {
            key: compile_value(spec[key], f"{where}.{key}", self.problems)
            for key in allowed
            if key in spec and key not in ("method", "sign", "operation")
        }
        target = spec[kind]
        method = str(spec.get("method", "POST")).upper()
        if method not in _METHODS:
            self.problems.add(
                f"{where}.method", f"{where}.method must be one of {', '.join(_METHODS)}"
            )
        operation = spec.get("operation")
        if kind in ("endpoint", "connector", "url"):
            if not isinstance(target, str) or not target:
                self.problems.add(f"{where}.{kind}", f"{where}.{kind} must be a non-empty string")
                return None
            values["target"] = compile_value(target, f"{where}.{kind}", self.problems)
        if kind == "connector" and (not isinstance(operation, str) or not operation):
            self.problems.add(f"{where}.operation", f"{where}.operation must name an operation")
        if kind == "profile":
            values["update"] = compile_value(target, f"{where}.profile", self.problems)
            if not isinstance(target, Mapping) or not set(target) & {"traits", "tags", "increment"}:
                self.problems.add(
                    f"{where}.profile", f"{where}.profile needs traits, increment or tags"
                )
            elif set(target) - {"traits", "tags", "increment"}:
                unknown = sorted(set(target) - {"traits", "tags", "increment"}, key=str)
                self.problems.add(
                    f"{where}.profile", f"unknown key(s) {', '.join(map(str, unknown))} in profile"
                )
            elif "increment" in target and not isinstance(target["increment"], Mapping):
                self.problems.add(
                    f"{where}.profile.increment",
                    f"{where}.profile.increment must map trait names to numbers",
                )
        if kind == "publish":
            values["event"] = compile_value(target, f"{where}.publish", self.problems)
            if not isinstance(target, Mapping) or not isinstance(target.get("type"), str):
                self.problems.add(f"{where}.publish.type", f"{where}.publish needs a type")
        used: set[str] = set()
        if kind == "url":
            for key in ("url", "headers", "query", "body"):
                if key in spec:
                    self.secret_places.append(f"{where}.{key}")
                    used.update(
                        name
                        for _, text in _strings_in(spec[key], "")
                        for name in secret_names(text)
                    )
        return Action(
            kind,
            target if isinstance(target, str) else "",
            values,
            method=method,
            sign=bool(spec.get("sign", kind != "connector")),
            operation=operation if isinstance(operation, str) else None,
            secrets=frozenset(used),
        )


_ACTION_KEYS: Final = {
    "endpoint": frozenset({"event_type", "body"}),
    "url": frozenset({"method", "headers", "body", "sign", "query"}),
    "connector": frozenset({"operation", "input"}),
    "profile": frozenset(),
    "publish": frozenset(),
}


def _link(node: Node, target: int | None) -> None:
    node.next = target
    for tail in node.tails:
        _link(tail, target)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


_SECRET_REF: Final = re.compile(r"\{[{%][^}]*?\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)", re.ASCII)


def secret_names(text: str) -> set[str]:
    """The names in ``{{ secrets.NAME }}`` (or inside a ``{% ... %}`` tag) of a string."""
    return set(_SECRET_REF.findall(text)) if "secrets." in text else set()


def _strings_in(value: object, path: str) -> list[tuple[str, str]]:
    """Every string in a spec (keys included) with its path, as problems name places."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found.append((path, value))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            found.append((inner, str(key)))
            found.extend(_strings_in(item, inner))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_strings_in(item, f"{path}[{index}]"))
    return found
