"""The ``flows`` section of a configuration file (``renkei plan|apply|export``).

Exports redact credentials written into a flow (an ``Authorization`` header of an ad-hoc
URL call); the plan compares redacted to redacted, so changing only such a value plans as
unchanged: apply it with ``PATCH /api/v1/flows/{id}`` or keep credentials in connections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.config.loader import ConfigError, refuse_unknown_fields
from renkei.flows.problems import FlowSpecError
from renkei.flows.service import (
    LOGIC_KEYS,
    _check,
    create_flow,
    find_flow,
    list_flows,
    update_flow,
)
from renkei.security.redaction import redact

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["FlowsResource"]

_PAGE = 500
_FIELDS = frozenset({"name", "description", "enabled", *LOGIC_KEYS})


def _problems(exc: FlowSpecError) -> str:
    return "; ".join(
        f"{problem['path']}: {problem['message']}" if problem.get("path") else problem["message"]
        for problem in exc.problems
    )


class FlowsResource:
    section = "flows"

    async def export(self, hub: Core) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        after: str | None = None
        async with hub.database.read() as connection:
            while True:
                page = await list_flows(connection, limit=_PAGE, after=after)
                for record in page:
                    found[record.name] = redact(record.config())
                if len(page) < _PAGE:
                    return found
                after = page[-1].id

    async def validate(
        self,
        hub: Core,
        spec: dict[str, Any],
        current: dict[str, Any] | None,
        config: dict[str, list[dict[str, Any]]],
    ) -> None:
        refuse_unknown_fields("flows", spec, _FIELDS)
        try:
            _check(spec)
        except FlowSpecError as exc:
            raise ConfigError(f"flows.{spec['name']}: {_problems(exc)}") from exc

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]:
        document: dict[str, Any] = {"name": spec["name"]}
        if spec.get("description"):
            document["description"] = spec["description"]
        if spec.get("enabled", True) is False:
            document["enabled"] = False
        for key in LOGIC_KEYS:
            if spec.get(key) is not None:
                document[key] = spec[key]
        # Exports hide credentials (an Authorization header), so compare both sides hidden.
        return dict(redact(document))

    async def apply(self, hub: Core, spec: dict[str, Any], current: dict[str, Any] | None) -> str:
        await self.validate(hub, spec, current, {})
        try:
            async with hub.database.transaction() as tx:
                if current is None:
                    record = await create_flow(hub, tx, spec)
                else:
                    existing = await find_flow(tx, spec["name"])
                    changes = {
                        "description": spec.get("description", ""),
                        "enabled": spec.get("enabled", True),
                        **{key: spec.get(key) for key in LOGIC_KEYS},
                    }
                    record = await update_flow(hub, tx, existing.id, changes)
        except FlowSpecError as exc:
            raise ConfigError(f"flows.{spec['name']}: {_problems(exc)}") from exc
        return record.id
