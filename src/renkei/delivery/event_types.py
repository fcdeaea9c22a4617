"""Event types: registered names with a description, an optional JSON Schema and example.

A ``planned`` type is in the tracking plan (``renkei.events.plan``): tracked events of its
name are checked against its schema on ingest, by the sources that have a plan mode.

A payload published under a type with a schema must satisfy it; the error names the
failing path (``data.amount``). ``example_for`` gives the payload a test send uses: the
registered example, else one generated from the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.problems import ConflictProblem, InvalidProblem, NotFoundProblem
from renkei.events.plan import InvalidPlan, compile_plan_schema
from renkei.events.system import SYSTEM_EVENT_TYPES
from renkei.store.config_version import bump_version
from renkei.store.tables.webhooks import event_types

__all__ = [
    "EventType",
    "SchemaViolation",
    "archive_event_type",
    "check_plannable",
    "check_schema",
    "create_event_type",
    "example_for",
    "generate_example",
    "get_event_type",
    "list_event_types",
    "update_event_type",
    "validate_payload",
]


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    schema: dict[str, Any] | None
    example: Any
    archived: bool
    created_at: datetime
    updated_at: datetime
    planned: bool = False
    system: bool = False
    """Published by Renkei itself (failures and alerts, ``renkei.events.system``): in the
    catalog for subscribers to find, with its schema; not stored, and not to be changed."""


class SchemaViolation(InvalidProblem):
    default_code = "schema_violation"


def _from_row(row: Any) -> EventType:
    return EventType(
        name=row.name,
        description=row.description,
        schema=row.schema,
        example=row.example,
        archived=bool(row.archived),
        created_at=row.created_at,
        updated_at=row.updated_at,
        planned=bool(row.planned),
    )


def check_schema(schema: Any) -> Draft202012Validator | None:
    """A validator for ``schema``, or None for no schema; a bad schema is a 422."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise InvalidProblem("schema must be a JSON Schema object", details={"path": "schema"})
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = ".".join(str(part) for part in exc.absolute_path)
        raise InvalidProblem(
            f"schema is not a valid JSON Schema: {exc.message}",
            details={"path": f"schema.{path}" if path else "schema"},
        ) from exc
    return Draft202012Validator(schema)


def validate_payload(validator: Draft202012Validator | None, type_name: str, data: Any) -> None:
    """Raise :class:`SchemaViolation` naming every failing path (``data.amount``)."""
    if validator is None:
        return
    errors = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
    if not errors:
        return
    problems = [
        {
            "path": ".".join(["data", *(str(part) for part in error.absolute_path)]),
            "message": error.message,
        }
        for error in errors[:20]
    ]
    first = problems[0]
    raise SchemaViolation(
        f"{first['path']}: {first['message']} (schema of {type_name})",
        details=problems,
    )


async def create_event_type(
    connection: AsyncConnection,
    *,
    name: str,
    description: str,
    schema: dict[str, Any] | None,
    example: Any,
    now: datetime,
    planned: bool = False,
) -> EventType:
    if name in SYSTEM_TYPES:
        raise ConflictProblem(f"event type {name} is Renkei's own: it already exists")
    validator = check_schema(schema)
    check_plannable(planned, schema)
    if example is not None:
        _check_example(validator, name, example)
    existing = await connection.execute(
        select(event_types.c.name).where(event_types.c.name == name)
    )
    if existing.first() is not None:
        raise ConflictProblem(f"event type {name} already exists")
    values = {
        "name": name,
        "description": description,
        "schema": schema,
        "example": example,
        "archived": False,
        "created_at": now,
        "updated_at": now,
        "planned": planned,
    }
    await connection.execute(insert(event_types).values(**values))
    await bump_version(connection)
    return EventType(**values)  # type: ignore[arg-type]


async def get_event_type(connection: AsyncConnection, name: str) -> EventType:
    row = (await connection.execute(select(event_types).where(event_types.c.name == name))).first()
    if row is not None:
        return _from_row(row)
    if name in SYSTEM_TYPES:
        return SYSTEM_TYPES[name]
    raise NotFoundProblem("event type", name)


async def list_event_types(
    connection: AsyncConnection,
    *,
    limit: int,
    after: str | None = None,
    include_archived: bool = False,
    with_system: bool = True,
) -> list[EventType]:
    """By name, the first ``limit`` after ``after``; Renkei's own types among them unless
    ``with_system`` is false (a type stored under the same name is the one listed)."""
    query = select(event_types).order_by(event_types.c.name).limit(limit)
    if after is not None:
        query = query.where(event_types.c.name > after)
    if not include_archived:
        query = query.where(event_types.c.archived.is_(False))
    stored = [_from_row(row) for row in await connection.execute(query)]
    if not with_system:
        return stored
    names = {kind.name for kind in stored}
    system = [
        kind
        for name, kind in SYSTEM_TYPES.items()
        if name not in names and (after is None or name > after)
    ]
    return sorted([*stored, *system], key=lambda kind: kind.name)[:limit]


async def update_event_type(
    connection: AsyncConnection, name: str, changes: dict[str, Any], *, now: datetime
) -> EventType:
    current = await get_event_type(connection, name)
    if current.system:
        raise ConflictProblem(f"event type {name} is Renkei's own: it cannot be changed")
    schema = changes.get("schema", current.schema)
    validator = check_schema(schema)
    check_plannable(bool(changes.get("planned", current.planned)), schema)
    example = changes.get("example", current.example)
    if example is not None and ("schema" in changes or "example" in changes):
        _check_example(validator, name, example)
    allowed = {key: value for key, value in changes.items() if key in _MUTABLE}
    await connection.execute(
        update(event_types).where(event_types.c.name == name).values(**allowed, updated_at=now)
    )
    await bump_version(connection)
    return await get_event_type(connection, name)


async def archive_event_type(connection: AsyncConnection, name: str, *, now: datetime) -> None:
    await update_event_type(connection, name, {"archived": True}, now=now)


_MUTABLE = frozenset({"description", "schema", "example", "archived", "planned"})


def check_plannable(planned: bool, schema: Any) -> None:
    """A planned schema must compile for ingest's validator too (regex syntax differs a little)."""
    if not planned or schema is None:
        return
    try:
        compile_plan_schema(schema)
    except InvalidPlan as exc:
        raise InvalidProblem(exc.message, details={"path": "schema"}) from exc


def _check_example(validator: Draft202012Validator | None, name: str, example: Any) -> None:
    try:
        validate_payload(validator, name, example)
    except SchemaViolation as exc:
        raise InvalidProblem(
            f"example does not match the schema: {exc.message}", details=exc.details
        ) from exc


def example_for(event_type: EventType) -> Any:
    if event_type.example is not None:
        return event_type.example
    if event_type.schema is not None:
        return generate_example(event_type.schema)
    return {}


def generate_example(schema: Any, depth: int = 0) -> Any:
    """A plausible value for ``schema``: examples, defaults, enums, then the type's zero."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("oneOf", "anyOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return generate_example(schema[key][0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {
            key: generate_example(sub, depth + 1)
            for key, sub in properties.items()
            if isinstance(sub, dict)
        }
    if kind == "array":
        item = generate_example(schema.get("items") or {}, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind == "string":
        return _string_example(schema)
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return schema.get("minimum", 0)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return None


_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _string_example(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    length = int(schema.get("minLength", 0))
    return "string".ljust(length, "x")


# When Renkei began publishing them (0.3.0): the dates a listing shows for them.
_SYSTEM_SINCE = datetime(2026, 11, 1, tzinfo=UTC)
SYSTEM_TYPES: dict[str, EventType] = {
    kind.name: EventType(
        name=kind.name,
        description=kind.description,
        schema=kind.schema,
        example=generate_example(kind.schema),
        archived=False,
        created_at=_SYSTEM_SINCE,
        updated_at=_SYSTEM_SINCE,
        system=True,
    )
    for kind in SYSTEM_EVENT_TYPES.values()
}
