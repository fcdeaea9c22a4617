"""Flow operations shared by the API, the CLI and ``renkei apply``.

Saving validates the whole spec (every problem, with its path); a change to the trigger,
steps or re-eligibility makes a new version, while renaming, describing, enabling or
disabling does not. Every change bumps the config counter so all processes reload their
trigger matcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.signing import generate_secret
from renkei.errors import Conflict, NotFound
from renkei.events.envelope import format_timestamp
from renkei.flows.problems import FlowSpecError
from renkei.flows.schedule import drop_schedule, set_schedule
from renkei.flows.spec import compile_flow
from renkei.ids import new_id
from renkei.security.redaction import redact
from renkei.security.targets import CredentialMove, origin
from renkei.store.config_version import bump_version
from renkei.store.tables.flows import (
    flow_run_steps,
    flow_runs,
    flow_versions,
    flows,
)

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = [
    "LOGIC_KEYS",
    "FlowConflict",
    "FlowNotFound",
    "FlowRecord",
    "create_flow",
    "delete_flow",
    "find_flow",
    "get_flow",
    "get_run",
    "list_flows",
    "list_runs",
    "list_versions",
    "moved_secrets",
    "reveal_secret",
    "rotate_secret",
    "runs_for_event",
    "secret_targets",
    "set_enabled",
    "update_flow",
]

LOGIC_KEYS = ("trigger", "reeligibility", "steps")
_SECRET_CONTEXT = "flows.signing_secret"


class FlowNotFound(NotFound, LookupError):
    def __init__(self, flow_id: str) -> None:
        super().__init__("flow", flow_id)
        self.flow_id = flow_id


class FlowConflict(Conflict):
    """A flow's name is taken."""


@dataclass(frozen=True)
class FlowRecord:
    id: str
    name: str
    description: str
    enabled: bool
    version: int
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """For API answers: header values and fields with secret names are redacted."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "version": self.version,
            **redact(self.spec),
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        }

    def config(self) -> dict[str, Any]:
        """As written in a configuration file (unredacted: for editing, not for display)."""
        document: dict[str, Any] = {"name": self.name}
        if self.description:
            document["description"] = self.description
        if not self.enabled:
            document["enabled"] = False
        document.update(self.spec)
        return document


def logic_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a spec that is versioned."""
    logic = {key: spec[key] for key in LOGIC_KEYS if key in spec and spec[key] is not None}
    return logic


def _check(spec: Mapping[str, Any]) -> dict[str, Any]:
    problems: list[dict[str, Any]] = []
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append({"path": "name", "message": "name must be 1 to 200 characters"})
    description = spec.get("description", "")
    if not isinstance(description, str):
        problems.append({"path": "description", "message": "description must be a string"})
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append({"path": "enabled", "message": "enabled must be true or false"})
    logic = logic_of(spec)
    try:
        compile_flow({**logic})
    except FlowSpecError as exc:
        problems.extend(exc.problems)
    if problems:
        raise FlowSpecError(problems)
    return logic


async def _name_taken(connection: AsyncConnection, name: str, exclude: str | None = None) -> bool:
    query = select(flows.c.id).where(flows.c.name == name, flows.c.deleted_at.is_(None))
    if exclude is not None:
        query = query.where(flows.c.id != exclude)
    return (await connection.execute(query)).first() is not None


async def create_flow(
    hub: Core,
    tx: AsyncConnection,
    spec: Mapping[str, Any],
    *,
    may_move_credentials: bool = True,
) -> FlowRecord:
    """Store a new flow (with a signing secret of its own). Without ``may_move_credentials``
    (a ``write`` token), a named secret in a request is refused: the flow would send it to a
    host of the writer's choosing."""
    logic = _check(spec)
    if not may_move_credentials and (
        move := moved_secrets(set(), secret_targets(logic, signing=False))
    ):
        raise move
    name = str(spec["name"]).strip()
    if await _name_taken(tx, name):
        raise FlowConflict(f"a flow named {name!r} already exists")
    now = hub.clock.now()
    flow_id = new_id("flow")
    secret = hub.keyring.encrypt(generate_secret(), context=_SECRET_CONTEXT)
    await tx.execute(
        insert(flows).values(
            id=flow_id,
            name=name,
            description=spec.get("description", "") or "",
            enabled=spec.get("enabled", True),
            version=1,
            signing_secret=secret,
            created_at=now,
            updated_at=now,
        )
    )
    await tx.execute(
        insert(flow_versions).values(flow_id=flow_id, version=1, spec=logic, created_at=now)
    )
    await set_schedule(hub.queue, tx, flow_id, logic)
    await bump_version(tx)
    return await get_flow(tx, flow_id)


SIGNING_SECRET = "signing secret"


def secret_targets(logic: Mapping[str, Any], *, signing: bool = True) -> set[tuple[str, str]]:
    """Which secret goes to which host: ``(origin, secret)`` for every HTTP action, where
    the secret is the flow's signing secret (a signed request) or ``secrets.NAME`` (a named
    secret in its URL, headers, query or body). A templated URL is its own origin."""
    try:
        compiled = compile_flow(dict(logic))
    except FlowSpecError:
        return set()
    pairs: set[tuple[str, str]] = set()
    for node in compiled.nodes:
        action = node.action
        if action is None or action.kind != "url":
            continue
        where = origin(action.target)
        if action.sign and signing:
            pairs.add((where, SIGNING_SECRET))
        pairs.update((where, f"secrets.{name}") for name in action.secrets)
    return pairs


def moved_secrets(
    before: set[tuple[str, str]], after: set[tuple[str, str]]
) -> CredentialMove | None:
    """A secret sent to a host it did not go to before, or None."""
    new = after - before
    if not new:
        return None
    return CredentialMove(
        "flow",
        {where for where, _ in before},
        {where for where, _ in new},
        remedy="leave out the flow's secrets (sign: false, no {{ secrets.NAME }}) on requests "
        "to a new host",
    )


async def update_flow(
    hub: Core,
    tx: AsyncConnection,
    flow_id: str,
    changes: Mapping[str, Any],
    *,
    may_move_credentials: bool = True,
) -> FlowRecord:
    """Apply ``changes`` (any of name, description, enabled, trigger, reeligibility, steps).

    Without ``may_move_credentials`` (a ``write`` token), sending a secret to a host it did
    not go to before is refused (:class:`CredentialMove`): a signed request (the new host
    would get requests signed with the secret its old targets trust) or a named secret."""
    current = await get_flow(tx, flow_id)
    merged: dict[str, Any] = {**current.config(), "enabled": current.enabled, **changes}
    for key in LOGIC_KEYS:
        if key in changes and changes[key] is None:
            merged.pop(key, None)
    logic = _check(merged)
    if not may_move_credentials and (
        move := moved_secrets(secret_targets(current.spec), secret_targets(logic))
    ):
        raise move
    name = str(merged["name"]).strip()
    if name != current.name and await _name_taken(tx, name, exclude=flow_id):
        raise FlowConflict(f"a flow named {name!r} already exists")
    now = hub.clock.now()
    version = current.version
    if logic != current.spec:
        version += 1
        await tx.execute(
            insert(flow_versions).values(
                flow_id=flow_id, version=version, spec=logic, created_at=now
            )
        )
    await tx.execute(
        update(flows)
        .where(flows.c.id == flow_id)
        .values(
            name=name,
            description=merged.get("description", "") or "",
            enabled=merged.get("enabled", True),
            version=version,
            updated_at=now,
        )
    )
    await set_schedule(hub.queue, tx, flow_id, logic)
    await bump_version(tx)
    return await get_flow(tx, flow_id)


async def set_enabled(hub: Core, tx: AsyncConnection, flow_id: str, enabled: bool) -> FlowRecord:
    await get_flow(tx, flow_id)
    await tx.execute(
        update(flows)
        .where(flows.c.id == flow_id)
        .values(enabled=enabled, updated_at=hub.clock.now())
    )
    await bump_version(tx)
    return await get_flow(tx, flow_id)


async def delete_flow(hub: Core, tx: AsyncConnection, flow_id: str) -> None:
    """Soft delete: runs and versions stay readable; runs under way finish."""
    await get_flow(tx, flow_id)
    now = hub.clock.now()
    await tx.execute(
        update(flows)
        .where(flows.c.id == flow_id)
        .values(deleted_at=now, enabled=False, updated_at=now)
    )
    await drop_schedule(hub.queue, tx, flow_id)
    await bump_version(tx)


def _record(row: Any, spec: dict[str, Any]) -> FlowRecord:
    return FlowRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        enabled=bool(row.enabled),
        version=row.version,
        spec=spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_WITH_SPEC = select(flows, flow_versions.c.spec).join(
    flow_versions,
    (flow_versions.c.flow_id == flows.c.id) & (flow_versions.c.version == flows.c.version),
)


async def get_flow(connection: AsyncConnection, flow_id: str) -> FlowRecord:
    row = (
        await connection.execute(
            _WITH_SPEC.where(flows.c.id == flow_id, flows.c.deleted_at.is_(None))
        )
    ).first()
    if row is None:
        raise FlowNotFound(flow_id)
    return _record(row, row.spec)


async def find_flow(connection: AsyncConnection, ref: str) -> FlowRecord:
    """A flow by id or by name."""
    row = (
        await connection.execute(
            _WITH_SPEC.where(
                (flows.c.id == ref) | (flows.c.name == ref), flows.c.deleted_at.is_(None)
            ).limit(1)
        )
    ).first()
    if row is None:
        raise FlowNotFound(ref)
    return _record(row, row.spec)


async def list_flows(
    connection: AsyncConnection, *, limit: int, after: str | None = None
) -> list[FlowRecord]:
    query = _WITH_SPEC.where(flows.c.deleted_at.is_(None))
    if after is not None:
        query = query.where(flows.c.id > after)
    rows = await connection.execute(query.order_by(flows.c.id).limit(limit))
    return [_record(row, row.spec) for row in rows]


async def list_versions(connection: AsyncConnection, flow_id: str) -> list[dict[str, Any]]:
    await get_flow(connection, flow_id)
    rows = await connection.execute(
        select(flow_versions)
        .where(flow_versions.c.flow_id == flow_id)
        .order_by(flow_versions.c.version.desc())
    )
    return [
        {"version": row.version, "created_at": format_timestamp(row.created_at), **redact(row.spec)}
        for row in rows
    ]


def _run_dict(row: Any, steps: list[dict[str, Any]] | None) -> dict[str, Any]:
    result = {
        "id": row.id,
        "flow_id": row.flow_id,
        "version": row.version,
        "event_id": row.event_id,
        "user_key": row.user_key,
        "status": row.status,
        "error": row.error,
        "started_at": format_timestamp(row.started_at),
        "updated_at": format_timestamp(row.updated_at),
        "finished_at": format_timestamp(row.finished_at) if row.finished_at else None,
    }
    if steps is not None:
        result["steps"] = steps
    return result


def _step_dict(row: Any) -> dict[str, Any]:
    return {
        "step": row.step_id,
        "kind": row.kind,
        "status": row.status,
        "attempts": row.attempts,
        "input": row.input,
        "output": row.output,
        "problems": row.problems or [],
        "error": row.error,
        "started_at": format_timestamp(row.started_at),
        "finished_at": format_timestamp(row.finished_at) if row.finished_at else None,
    }


async def _steps_of(
    connection: AsyncConnection, run_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    rows = await connection.execute(
        select(flow_run_steps)
        .where(flow_run_steps.c.run_id.in_(run_ids))
        .order_by(flow_run_steps.c.run_id, flow_run_steps.c.started_at, flow_run_steps.c.id)
    )
    for row in rows:
        found[row.run_id].append(_step_dict(row))
    return found


async def list_runs(
    connection: AsyncConnection,
    flow_id: str,
    *,
    limit: int,
    before: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first, each with its steps."""
    query = select(flow_runs).where(flow_runs.c.flow_id == flow_id)
    if before is not None:
        query = query.where(flow_runs.c.id < before)
    if status is not None:
        query = query.where(flow_runs.c.status == status)
    rows = list(await connection.execute(query.order_by(flow_runs.c.id.desc()).limit(limit)))
    steps = await _steps_of(connection, [row.id for row in rows])
    return [_run_dict(row, steps[row.id]) for row in rows]


async def get_run(connection: AsyncConnection, run_id: str) -> dict[str, Any] | None:
    row = (await connection.execute(select(flow_runs).where(flow_runs.c.id == run_id))).first()
    if row is None:
        return None
    return _run_dict(row, (await _steps_of(connection, [row.id]))[row.id])


async def runs_for_event(connection: AsyncConnection, event_id: str) -> list[dict[str, Any]]:
    rows = list(
        await connection.execute(
            select(flow_runs, flows.c.name)
            .join(flows, flows.c.id == flow_runs.c.flow_id)
            .where(flow_runs.c.event_id == event_id)
            .order_by(flow_runs.c.id)
        )
    )
    steps = await _steps_of(connection, [row.id for row in rows])
    return [{**_run_dict(row, steps[row.id]), "flow_name": row.name} for row in rows]


async def reveal_secret(hub: Core, connection: AsyncConnection, flow_id: str) -> str:
    await get_flow(connection, flow_id)
    sealed = (
        await connection.execute(select(flows.c.signing_secret).where(flows.c.id == flow_id))
    ).scalar()
    return hub.keyring.decrypt(str(sealed), context=_SECRET_CONTEXT)


async def rotate_secret(hub: Core, tx: AsyncConnection, flow_id: str) -> str:
    await get_flow(tx, flow_id)
    secret = generate_secret()
    await tx.execute(
        update(flows)
        .where(flows.c.id == flow_id)
        .values(
            signing_secret=hub.keyring.encrypt(secret, context=_SECRET_CONTEXT),
            updated_at=hub.clock.now(),
        )
    )
    return secret
