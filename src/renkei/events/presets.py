"""Inbound presets: a vendor's webhook in one step.

A preset is data: the verification scheme and its fixed options, the settings the user must
(or may) give, the mapping (event type, dedupe id, identity), the event types the vendor
sends with a JSON Schema each, and how the vendor validates the URL. :func:`configure`
turns a preset and the user's settings into the ``verification`` and ``mapping`` configs of
an ordinary webhook source; nothing about a source depends on the preset afterwards, so its
mapping can be edited like any other (``PATCH /api/v1/sources/{id}``).

The table itself is :mod:`renkei.events.preset_catalog`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from renkei.errors import Invalid

__all__ = [
    "EventTypeSpec",
    "InvalidPreset",
    "Preset",
    "Setting",
    "configure",
    "object_schema",
]


class InvalidPreset(Invalid):
    default_code = "invalid_preset"


@dataclass(frozen=True, slots=True)
class Setting:
    """A value the user gives when creating a source with the preset; it becomes the
    verification option of the same name."""

    name: str
    description: str
    required: bool = True
    secret: bool = True
    """Stored encrypted and never shown again; else stored with the verification config."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "required": self.required,
            "secret": self.secret,
        }


@dataclass(frozen=True, slots=True)
class EventTypeSpec:
    """An event type the vendor sends, registered (if missing) when a source is created."""

    name: str
    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    title: str
    summary: str
    verification: Mapping[str, Any]
    """The scheme and its fixed options; the settings are added to it."""
    mapping: Mapping[str, Any]
    settings: tuple[Setting, ...]
    event_types: tuple[EventTypeSpec, ...]
    setup: str
    """What to do in the vendor's UI once the source exists (``{url}`` is its URL)."""
    handshake: str | None = None
    """How the vendor validates the URL, when it does (answered by ``/hooks/{id}``)."""
    body_template: str | None = None
    """For vendors where the user writes the request body (OneSignal, Marketo)."""
    docs: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """What ``GET /api/v1/source-presets`` shows."""
        return {
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "scheme": self.verification["scheme"],
            "settings": [setting.to_dict() for setting in self.settings],
            "verification": dict(self.verification),
            "mapping": dict(self.mapping),
            "event_types": [
                {"name": kind.name, "description": kind.description, "schema": dict(kind.schema)}
                for kind in self.event_types
            ],
            "handshake": self.handshake,
            "body_template": self.body_template,
            "setup": self.setup,
            "docs": list(self.docs),
        }


def configure(
    presets: Mapping[str, Preset], name: str, settings: Mapping[str, Any] | None
) -> tuple[Preset, dict[str, Any], dict[str, Any]]:
    """``(preset, verification, mapping)`` for a source made from preset ``name``.

    Raises :class:`InvalidPreset` (422) for an unknown preset (naming the known ones), a
    missing required setting, an unknown one or one that is not a string.
    """
    preset = presets.get(name)
    if preset is None:
        raise InvalidPreset(
            f"unknown preset {name!r}; presets: {', '.join(sorted(presets))}",
            details={"field": "preset", "presets": sorted(presets)},
        )
    given = dict(settings or {})
    known = {setting.name for setting in preset.settings}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidPreset(
            f"the {name} preset has no setting {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(known)) or 'none'}",
            details={"field": "settings", "unknown": unknown, "settings": sorted(known)},
        )
    bad = sorted(key for key, value in given.items() if not isinstance(value, str) or not value)
    if bad:
        raise InvalidPreset(
            f"settings must be non-empty strings: {', '.join(bad)}",
            details={"field": "settings", "invalid": bad},
        )
    missing = [s.name for s in preset.settings if s.required and s.name not in given]
    if missing:
        wanted = "; ".join(
            f"{s.name}: {s.description}" for s in preset.settings if s.name in missing
        )
        raise InvalidPreset(
            f"the {name} preset needs {', '.join(missing)} ({wanted})",
            details={"field": "settings", "missing": missing},
        )
    return preset, {**preset.verification, **given}, dict(preset.mapping)


def object_schema(required: Mapping[str, str], **optional: str) -> dict[str, Any]:
    """A JSON Schema for an object with these fields (name → JSON type), other fields
    allowed: vendors add fields without notice."""
    properties = {name: {"type": kind} for name, kind in {**required, **optional}.items()}
    return {"type": "object", "required": sorted(required), "properties": properties}
