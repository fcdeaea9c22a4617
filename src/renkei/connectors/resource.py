"""The ``connections`` section of a configuration file (``renkei plan/apply/export``)::

    connections:
      - name: marketo
        connector: marketo
        config: {base_url: "https://123-ABC-456.mktorest.com"}
        credentials:
          client_id: "${env:MARKETO_CLIENT_ID}"
          client_secret: "${env:MARKETO_CLIENT_SECRET}"
        limits: {daily_quota: {calls: 10000}}

Credentials are never exported and never compared by value (that would mean keeping them
readable): a plan sees a change when the connector, config, limits or the *names* of the
credentials differ. Rotate a credential's value with ``renkei connections update`` or
``PATCH /api/v1/connections/{id}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.config.loader import ConfigError, refuse_unknown_fields
from renkei.connectors.connections import (
    ConnectionExists,
    _check,
    check_targets,
    create_connection,
    find_connection,
    list_connections,
    update_connection,
)
from renkei.connectors.errors import ConfigurationError
from renkei.egress.ssrf import TargetPolicy

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.core import Core

__all__ = ["ConnectionsResource"]

# ``credentials_set`` is what export writes instead of the credentials: the names only.
_FIELDS = frozenset({"name", "connector", "config", "credentials", "credentials_set", "limits"})


class ConnectionsResource:
    section = "connections"

    def __init__(self, service: ConnectorService) -> None:
        self.service = service

    async def export(self, hub: Core) -> dict[str, dict[str, Any]]:
        async with hub.database.read() as connection:
            rows = await list_connections(connection, limit=100_000)
        exported: dict[str, dict[str, Any]] = {}
        for row in rows:
            spec: dict[str, Any] = {
                "name": row.name,
                "connector": row.connector,
                "config": row.config,
                "credentials_set": sorted(row.credential_fields),
            }
            if row.limits:
                spec["limits"] = row.limits
            exported[row.name] = spec
        return exported

    async def validate(
        self,
        hub: Core,
        spec: dict[str, Any],
        current: dict[str, Any] | None,
        config: dict[str, list[dict[str, Any]]],
    ) -> None:
        name = spec["name"]
        refuse_unknown_fields("connections", spec, _FIELDS)
        if current is not None and current["connector"] != spec.get("connector"):
            raise ConfigError(
                f"connections.{name}: the connector cannot change "
                f"({current['connector']} → {spec.get('connector')}); "
                "delete the connection first"
            )
        for key in ("config", "credentials", "limits"):
            if not isinstance(spec.get(key) or {}, dict):
                raise ConfigError(f"connections.{name}: {key} must be a mapping")
        service = self.service
        credentials: dict[str, Any] = dict(spec.get("credentials") or {})
        try:
            connector = service.registry.spec(str(spec.get("connector")))
            if current is not None:
                # An update merges the file's credentials into the stored ones.
                async with hub.database.read() as connection:
                    row = await find_connection(connection, name)
                if row is not None:
                    credentials = {**row.decrypt(hub.keyring), **credentials}
            _check(connector, credentials, spec.get("config") or {}, spec.get("limits") or {})
            check_targets(TargetPolicy.from_settings(hub.settings), spec.get("config") or {})
        except ConfigurationError as exc:
            raise ConfigError(f"connections.{name}: {exc}") from exc

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]:
        wanted: dict[str, Any] = {
            "name": spec["name"],
            "connector": spec.get("connector"),
            "config": spec.get("config") or {},
            "credentials_set": sorted(
                spec["credentials"] if "credentials" in spec else spec.get("credentials_set") or []
            ),
        }
        if spec.get("limits"):
            wanted["limits"] = spec["limits"]
        return wanted

    async def apply(self, hub: Core, spec: dict[str, Any], current: dict[str, Any] | None) -> str:
        name = spec["name"]
        await self.validate(hub, spec, current, {})
        service = self.service
        try:
            async with hub.database.transaction() as tx:
                if current is None:
                    row = await create_connection(
                        tx,
                        keyring=hub.keyring,
                        registry=service.registry,
                        now=hub.clock.now(),
                        name=name,
                        connector=str(spec.get("connector")),
                        config=spec.get("config") or {},
                        credentials=spec.get("credentials") or {},
                        limits=spec.get("limits") or {},
                        policy=TargetPolicy.from_settings(hub.settings),
                    )
                    action = "connection.created"
                else:
                    if current["connector"] != spec.get("connector"):
                        raise ConfigError(
                            f"connections.{name}: the connector cannot change "
                            f"({current['connector']} → {spec.get('connector')}); "
                            "delete the connection first"
                        )
                    row = await update_connection(
                        tx,
                        name,
                        keyring=hub.keyring,
                        registry=service.registry,
                        now=hub.clock.now(),
                        config=spec.get("config") or {},
                        credentials=spec.get("credentials") or None,
                        limits=spec.get("limits") or {},
                        policy=TargetPolicy.from_settings(hub.settings),
                    )
                    action = "connection.updated"
                await hub.audit(
                    tx,
                    None,
                    action,
                    target_type="connection",
                    target_id=row.id,
                    details={"name": name, "via": "config"},
                )
        except (ConfigurationError, ConnectionExists) as exc:
            raise ConfigError(f"connections.{name}: {exc}") from exc
        return row.id
