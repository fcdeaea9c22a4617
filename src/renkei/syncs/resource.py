"""The ``syncs`` section of a configuration file (``renkei plan/apply/export``)::

syncs:
  - name: crm-contacts-to-profiles
    connection: crm
    direction: pull
    object: contacts
    config: {fields: [email, firstname, lastname]}
    trigger: {every_seconds: 1800}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.config.loader import ConfigError, refuse_unknown_fields
from renkei.connectors.connections import find_connection
from renkei.syncs.model import SyncInvalid
from renkei.syncs.model import validate as validate_sync
from renkei.syncs.service import SyncNotFound, SyncService

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["SyncsResource"]

_FIELDS = ("name", "connection", "direction", "object", "config", "trigger", "enabled")


class SyncsResource:
    section = "syncs"

    def __init__(self, service: SyncService) -> None:
        self.service = service

    async def export(self, hub: Core) -> dict[str, dict[str, Any]]:
        found = await self.service.list(limit=100_000)
        return {sync.name: self.comparable(sync.to_dict()) for sync in found}

    async def validate(
        self,
        hub: Core,
        spec: dict[str, Any],
        current: dict[str, Any] | None,
        config: dict[str, list[dict[str, Any]]],
    ) -> None:
        name = spec["name"]
        refuse_unknown_fields("syncs", spec, _FIELDS)
        reference = spec.get("connection")
        if not isinstance(reference, str) or not reference:
            raise ConfigError(f"syncs.{name}: a sync needs a connection")
        async with hub.database.read() as connection:
            row = await find_connection(connection, reference)
        connector = row.connector if row is not None else None
        for planned in config.get("connections", []):
            if planned.get("name") == reference:
                connector = str(planned.get("connector"))
        if connector is None:
            raise ConfigError(f"syncs.{name}: connection {reference!r} not found")
        try:
            declared = self.service.engine.connectors.registry.sync_objects(connector)
            validate_sync(self.comparable(spec), connector, declared)
        except SyncInvalid as exc:
            raise ConfigError(f"syncs.{name}: {exc}") from exc

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": spec["name"],
            "connection": spec.get("connection"),
            "direction": spec.get("direction"),
            "object": spec.get("object"),
            "config": spec.get("config") or {},
            "trigger": spec.get("trigger") or {},
            "enabled": bool(spec.get("enabled", True)),
        }

    async def apply(self, hub: Core, spec: dict[str, Any], current: dict[str, Any] | None) -> str:
        name = spec.get("name")
        service = self.service
        # Every field, with its default when left out: an update replaces each one.
        wanted = self.comparable(spec)
        try:
            if current is None:
                sync = await service.create(wanted)
            else:
                sync = await service.update(str(name), wanted)
        except (SyncInvalid, SyncNotFound) as exc:
            raise ConfigError(f"syncs.{name}: {exc}") from exc
        return sync.id
