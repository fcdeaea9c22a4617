"""Diffing a configuration against what is stored, and carrying the diff out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from renkei.config.loader import ConfigError

if TYPE_CHECKING:
    from renkei.core import Core


@dataclass(frozen=True)
class Change:
    section: str
    name: str
    action: Literal["create", "update", "unchanged"]
    spec: dict[str, Any]
    current: dict[str, Any] | None = None
    fields: tuple[str, ...] = ()


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)

    @property
    def pending(self) -> list[Change]:
        return [change for change in self.changes if change.action != "unchanged"]

    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "unchanged": 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts


def _changed_fields(wanted: dict[str, Any], current: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(key for key in wanted if wanted.get(key) != current.get(key)))


async def make_plan(hub: Core, config: dict[str, list[dict[str, Any]]]) -> Plan:
    plan = Plan()
    for section, kind in hub.resources.items():
        specs = config.get(section, [])
        if not specs:
            continue
        stored = await kind.export(hub)
        for spec in specs:
            current = stored.get(spec["name"])
            await _validate(hub, section, spec, current, config)
            wanted = kind.comparable(spec)
            if current is None:
                plan.changes.append(Change(section, spec["name"], "create", spec))
                continue
            changed = _changed_fields(wanted, current)
            action: Literal["update", "unchanged"] = "update" if changed else "unchanged"
            plan.changes.append(Change(section, spec["name"], action, spec, current, changed))
    return plan


async def _validate(
    hub: Core,
    section: str,
    spec: dict[str, Any],
    current: dict[str, Any] | None,
    config: dict[str, list[dict[str, Any]]],
) -> None:
    """The checks ``apply`` runs, as one ``ConfigError`` naming the object."""
    where = f"{section}.{spec['name']}"
    try:
        await hub.resources[section].validate(hub, spec, current, config)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


async def apply_plan(hub: Core, plan: Plan) -> dict[str, str]:
    """Carry out every pending change in section order; returns name → id per change."""
    applied: dict[str, str] = {}
    for change in plan.pending:
        kind = hub.resources[change.section]
        try:
            object_id = await kind.apply(hub, change.spec, change.current)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"{change.section}.{change.name}: {exc}") from exc
        applied[f"{change.section}.{change.name}"] = object_id
    return applied


async def export_state(hub: Core) -> dict[str, list[dict[str, Any]]]:
    document: dict[str, list[dict[str, Any]]] = {}
    for section, kind in hub.resources.items():
        objects = await kind.export(hub)
        if objects:
            document[section] = [objects[name] for name in sorted(objects)]
    return document
