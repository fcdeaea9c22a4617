"""A flow's steps as the boxes of its diagram: the trigger, then each step with a short
summary (a branch holds its paths, each a row of boxes). Built from the redacted spec
(``FlowRecord.to_dict``), so a header that carries a secret is never drawn."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

STEP_KINDS = ("filter", "map", "template", "delay", "branch", "action")
ACTION_KINDS = ("url", "endpoint", "connector", "profile", "publish")


def _(label: str) -> str:
    """Marks a box's label for the catalogs; the page translates it when drawn."""
    return label


@dataclass
class Box:
    kind: str  # trigger, filter, map, template, delay, branch, action
    label: str  # the step's id (or the kind)
    # (label, value) lines; a label ("" for none) is translated by the page, a value is not
    summary: list[tuple[str, str]] = field(default_factory=list)
    fields: list[dict[str, Any]] = field(default_factory=list)  # a map step's mapping table
    paths: list[Path] = field(default_factory=list)  # a branch's


@dataclass
class Path:
    name: str
    when: str
    boxes: list[Box]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def trigger_box(trigger: dict[str, Any]) -> Box:
    summary: list[tuple[str, str]] = []
    if trigger.get("schedule"):
        summary.append((_("Schedule"), _text(trigger["schedule"])))
    if trigger.get("event_types"):
        summary.append((_("Event types"), ", ".join(map(str, trigger["event_types"]))))
    if trigger.get("names"):
        summary.append((_("Event names"), ", ".join(map(str, trigger["names"]))))
    if trigger.get("filter"):
        summary.append((_("Condition"), _text(trigger["filter"])))
    return Box("trigger", "trigger", summary)


def _action_summary(action: dict[str, Any]) -> list[tuple[str, str]]:
    kind = next((kind for kind in ACTION_KINDS if kind in action), None)
    if kind == "url":
        return [("", f"{action.get('method', 'POST')} {action['url']}")]
    if kind == "endpoint":
        return [
            (_("Endpoint"), str(action["endpoint"])),
            (_("Event type"), str(action.get("event_type", "—"))),
        ]
    if kind == "connector":
        return [("", f"{action['connector']} · {action.get('operation', '')}")]
    if kind == "profile":
        return [(_("Profile"), ", ".join(sorted(action["profile"] or {})))]
    if kind == "publish":
        return [(_("Publish"), _text(action["publish"]))]
    return [("", _text(action))]


def step_box(step: dict[str, Any]) -> Box:
    kind = next((kind for kind in STEP_KINDS if kind in step), "step")
    body = step.get(kind)
    box = Box(kind, str(step.get("id") or kind))
    if kind == "filter":
        box.summary = [("", _text(body))]
    elif kind == "map" and isinstance(body, dict):
        box.fields = [
            {
                "source": _text(entry.get("source", entry.get("value", "—"))),
                "convert": ", ".join(_text(c) for c in entry.get("convert") or []),
                "target": str(entry.get("target", "")),
            }
            for entry in body.get("fields") or []
            if isinstance(entry, dict)
        ]
        for key, label in (("allow", _("Fields kept")), ("block", _("Fields dropped"))):
            if body.get(key):
                box.summary.append((label, ", ".join(map(str, body[key]))))
    elif kind == "template" and isinstance(body, dict):
        box.summary = [(_("Format"), str(body.get("format", "json")))]
    elif kind == "delay":
        box.summary = [("", _text(body))]
    elif kind == "branch" and isinstance(body, dict):
        box.paths = [
            Path(str(path.get("name", "")), _text(path.get("when")), boxes(path.get("steps")))
            for path in body.get("paths") or []
            if isinstance(path, dict)
        ]
        if body.get("default") is not None:
            box.paths.append(Path("default", "", boxes(body["default"])))
    elif kind == "action" and isinstance(body, dict):
        box.summary = _action_summary(body)
    return box


def boxes(steps: Any) -> list[Box]:
    return [step_box(step) for step in steps or [] if isinstance(step, dict)]


def diagram(flow: dict[str, Any]) -> list[Box]:
    """The trigger and the steps of a redacted flow document."""
    return [trigger_box(flow.get("trigger") or {}), *boxes(flow.get("steps"))]
