"""The tracking plan: which tracked events are expected, and what their payload must look like.

An event type marked ``planned`` (``event_types.planned``) puts a name in the plan: a track
event of that name must have ``properties`` that satisfy the type's JSON Schema (no schema:
any properties). Two reserved names plan traits instead: ``identify`` checks an identify
call's ``traits``, ``group`` a group call's. A track event whose name is not planned is
*unplanned*; identify and group calls are checked only when their name is planned, and page,
screen and alias calls never.

A tracking source with a ``plan_mode`` applies the plan to what it receives
(:func:`enforce`): ``allow`` stores the event as sent, ``omit_properties`` stores it without
the properties (or traits) at fault (all of them for an unplanned event: nothing vouches for
them), ``block`` drops it, and the request is still answered 200 as Segment Protocols does.
Each problem is handed to a recorder (``events.violations``), aggregated in memory.

Schemas are compiled once per distinct schema with ``jsonschema_rs`` (a Rust validator:
a planned event costs a microsecond or so, where ``jsonschema`` costs tens), and the plan is
reloaded only when the configuration version moved (``store.config_version``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import orjson
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import Invalid
from renkei.events.envelope import Event
from renkei.events.segment import message_email
from renkei.store.config_version import CHANGED_FLAG, read_version
from renkei.store.tables.plans import PLAN_MODES
from renkei.store.tables.webhooks import event_types

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = [
    "PLAN_MODES",
    "TRAIT_TYPES",
    "InvalidPlan",
    "Plan",
    "PlanCatalog",
    "Problem",
    "check_plan_mode",
    "compile_plan_schema",
    "enforce",
]

log = structlog.get_logger("renkei.plan")

TRAIT_TYPES = ("identify", "group")
"""Event type names that plan the ``traits`` of identify and group calls."""
UNPLANNED = "unplanned_event"
_MAX_PROBLEMS = 20  # per event: enough to say what is wrong, bounded for a huge payload
Validator = Any  # jsonschema_rs validators share no public base class


class InvalidPlan(Invalid):
    default_code = "invalid_plan"


def check_plan_mode(mode: object) -> str | None:
    """``mode`` if it is a plan mode (or None: no plan); a 422 otherwise."""
    if mode is None or mode in PLAN_MODES:
        return mode  # type: ignore[return-value]
    raise InvalidPlan(
        f"plan_mode must be one of {', '.join(PLAN_MODES)} (or null for no plan)",
        details={"path": "plan_mode", "allowed": list(PLAN_MODES)},
    )


def compile_plan_schema(schema: Any) -> Validator:
    """A validator for a planned type's schema; a schema it cannot compile is a 422."""
    try:
        return jsonschema_rs.validator_for(schema)
    except (ValueError, jsonschema_rs.ValidationError) as exc:
        raise InvalidPlan(
            f"schema cannot be used by the tracking plan: {str(exc).splitlines()[0]}",
            details={"path": "schema"},
        ) from exc


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    """``unplanned_event`` or the JSON Schema keyword that failed (``type``, ``required``...)."""
    path: str
    """Where, from the event: ``properties.amount``, ``traits.email``, array indexes as ``*``."""
    message: str
    omit: str | None
    """The top-level property (or trait) ``omit_properties`` drops; None: nothing to drop."""


@dataclass(frozen=True, slots=True)
class Plan:
    version: int
    track: dict[str, Validator | None]
    """Planned track event names → their validator (None: no schema, any properties)."""
    traits: dict[str, Validator | None]
    """``identify`` / ``group`` when planned → their traits' validator."""

    def problems(self, event: Event) -> tuple[str, list[Problem]] | None:
        """``(field, problems)`` for an event the plan covers; None for one it does not."""
        if event.type == "track":
            name = event.name or ""
            if name not in self.track:
                return "properties", [Problem(UNPLANNED, "event", f"{name!r} is not planned", None)]
            return "properties", _check(self.track[name], "properties", event.data)
        if event.type in self.traits:
            return "traits", _check(self.traits[event.type], "traits", event.data)
        return None


def _check(validator: Validator | None, field: str, data: dict[str, Any]) -> list[Problem]:
    if validator is None:
        return []
    payload = data.get(field)
    if payload is None:
        payload = {}
    if validator.is_valid(payload):
        return []
    found: list[Problem] = []
    for error in validator.iter_errors(payload):
        found.extend(_problems(field, error))
        if len(found) >= _MAX_PROBLEMS:
            break
    return found


def _problems(field: str, error: Any) -> list[Problem]:
    where = list(error.instance_path)
    kind = error.kind
    keyword = str(kind.name)
    top = str(where[0]) if where else None
    if keyword == "additionalProperties" and not where:
        return [
            Problem(keyword, f"{field}.{key}", f"{key!r} is not in the plan", str(key))
            for key in kind.unexpected
        ]
    if keyword == "required":
        # One group per missing property, not per path of the object that misses it.
        where = [*where, kind.property]
    path = ".".join([field, *("*" if isinstance(part, int) else str(part) for part in where)])
    return [Problem(keyword, path, str(error.message), top)]


def omitted(payload: Any, problems: Sequence[Problem]) -> dict[str, Any]:
    """``payload`` without the top-level keys at fault (all of them if the event is unplanned)."""
    if not isinstance(payload, dict) or any(problem.kind == UNPLANNED for problem in problems):
        return {}
    drop = {problem.omit for problem in problems if problem.omit is not None}
    return {key: value for key, value in payload.items() if key not in drop}


Record = Callable[[str, Event, str, Problem, str], None]
"""``(source_id, event, field, problem, action)``: what :func:`enforce` reports."""
_ACTIONS = {"allow": "allowed", "omit_properties": "omitted", "block": "blocked"}


def enforce(
    plan: Plan, mode: str, source_id: str, events: Sequence[Event], record: Record
) -> list[Event]:
    """The events to store under ``mode``; every problem is recorded."""
    kept: list[Event] = []
    action = _ACTIONS[mode]
    for event in events:
        checked = plan.problems(event)
        if checked is None or not checked[1]:
            kept.append(event)
            continue
        field, problems = checked
        for problem in problems:
            record(source_id, event, field, problem, action)
        if mode == "block":
            continue
        if mode == "omit_properties":
            # A new dict: the parsed message may be shared with the request's other events.
            event.data = {**event.data, field: omitted(event.data.get(field), problems)}
            # An omitted email trait (or property) must not still name the person.
            event.email = message_email(event.data, event.type)
        kept.append(event)
    return kept


class PlanCatalog:
    """This process's :class:`Plan`, reloaded when the configuration version moved (checked
    at most every ``refresh_seconds``; at once after a change made through this process)."""

    def __init__(self, hub: Core, *, refresh_seconds: float) -> None:
        self.hub = hub
        self.refresh_seconds = refresh_seconds
        self._plan: Plan | None = None
        self._checked_at = 0.0
        self._dirty = True
        self._lock = asyncio.Lock()
        self._compiled: dict[bytes, Validator] = {}
        hub.database.on_commit(CHANGED_FLAG, self.invalidate)

    def invalidate(self) -> None:
        self._dirty = True

    async def get(self) -> Plan:
        plan = self._plan
        if self._fresh(plan):
            assert plan is not None
            return plan
        if plan is not None and self._lock.locked():
            return plan  # another request is checking: keep this one meanwhile
        async with self._lock:
            plan = self._plan
            if self._fresh(plan):
                assert plan is not None
                return plan
            self._dirty = False
            async with self.hub.database.read() as connection:
                version = await read_version(connection)
                if plan is None or plan.version != version:
                    plan = self._plan = await self._load(connection, version)
            self._checked_at = time.monotonic()
            return plan

    def _fresh(self, plan: Plan | None) -> bool:
        return (
            plan is not None
            and not self._dirty
            and time.monotonic() - self._checked_at < self.refresh_seconds
        )

    async def _load(self, connection: AsyncConnection, version: int) -> Plan:
        rows = await connection.execute(
            select(event_types.c.name, event_types.c.schema).where(
                event_types.c.planned.is_(True), event_types.c.archived.is_(False)
            )
        )
        compiled: dict[bytes, Validator] = {}
        track: dict[str, Validator | None] = {}
        traits: dict[str, Validator | None] = {}
        for name, schema in rows:
            validator = None
            if schema is not None:
                key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
                validator = self._compiled.get(key)
                if validator is None:
                    try:
                        validator = compile_plan_schema(schema)
                    except InvalidPlan:
                        # Checked when planned; a schema that stopped compiling plans nothing.
                        log.warning("plan.schema_not_compiled", event_type=name)
                        continue
                compiled[key] = validator
            (traits if name in TRAIT_TYPES else track)[name] = validator
        self._compiled = compiled  # only the schemas in use stay compiled
        return Plan(version, track, traits)
