"""``event_types`` and ``endpoints`` sections of ``renkei plan|apply|export``.

Objects are matched by name. Exports never contain secrets: an endpoint's signing secret
is not exported at all and custom header values read ``[redacted]`` (so the plan compares
header names only). A ``secret`` given in the file (``${env:...}``) is used on creation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.config.loader import ConfigError, refuse_unknown_fields
from renkei.delivery.endpoints import (
    DEFAULT_TIMEOUT,
    create_endpoint,
    list_endpoints,
    set_disabled,
    update_endpoint,
    validate_fields,
)
from renkei.delivery.event_types import _check_example as check_example
from renkei.delivery.event_types import (
    check_plannable,
    check_schema,
    create_event_type,
    list_event_types,
    update_event_type,
)
from renkei.delivery.problems import WebhookProblem
from renkei.delivery.signing import is_valid_secret
from renkei.egress.ssrf import TargetPolicy
from renkei.security.redaction import REDACTED

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.delivery.service import Webhooks

__all__ = ["EndpointsResource", "EventTypesResource"]

_EVENT_TYPE_FIELDS = frozenset({"name", "description", "schema", "example", "planned"})
_ENDPOINT_FIELDS = frozenset(
    {
        "name",
        "url",
        "description",
        "event_types",
        "filter",
        "headers",
        "timeout_seconds",
        "rate_limit_per_second",
        "ordered",
        "ordering_key",
        "disabled",
        "secret",
    }
)


class EventTypesResource:
    section = "event_types"

    async def validate(
        self,
        hub: Core,
        spec: dict[str, Any],
        current: dict[str, Any] | None,
        config: dict[str, list[dict[str, Any]]],
    ) -> None:
        refuse_unknown_fields(self.section, spec, _EVENT_TYPE_FIELDS)
        wanted = self.comparable(spec)
        if not isinstance(spec.get("planned", False), bool):
            raise ConfigError(f"event_types.{wanted['name']}: planned must be true or false")
        try:
            validator = check_schema(wanted["schema"])
            check_plannable("planned" in wanted, wanted["schema"])
            if wanted["example"] is not None:
                check_example(validator, wanted["name"], wanted["example"])
        except WebhookProblem as exc:
            raise ConfigError(f"event_types.{wanted['name']}: {exc.message}") from exc

    async def export(self, hub: Core) -> dict[str, dict[str, Any]]:
        async with hub.database.read() as connection:
            kinds = await list_event_types(connection, limit=100_000, with_system=False)
        return {
            kind.name: {
                "name": kind.name,
                "description": kind.description,
                "schema": kind.schema,
                "example": kind.example,
                **({"planned": True} if kind.planned else {}),
            }
            for kind in kinds
        }

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": spec["name"],
            "description": spec.get("description", ""),
            "schema": spec.get("schema"),
            "example": spec.get("example"),
            # Written (and exported) only when true: files without it compare unchanged.
            **({"planned": True} if spec.get("planned") is True else {}),
        }

    async def apply(self, hub: Core, spec: dict[str, Any], current: dict[str, Any] | None) -> str:
        await self.validate(hub, spec, current, {})
        wanted = self.comparable(spec)
        try:
            async with hub.database.transaction() as tx:
                if current is None:
                    await create_event_type(
                        tx,
                        name=wanted["name"],
                        description=wanted["description"],
                        schema=wanted["schema"],
                        example=wanted["example"],
                        now=hub.clock.now(),
                        planned="planned" in wanted,
                    )
                else:
                    changes = {key: wanted[key] for key in ("description", "schema", "example")}
                    changes["planned"] = "planned" in wanted
                    await update_event_type(
                        tx, wanted["name"], {**changes, "archived": False}, now=hub.clock.now()
                    )
                await hub.audit(
                    tx,
                    None,
                    "event_type.applied",
                    target_type="event_type",
                    target_id=wanted["name"],
                    details={"via": "apply"},
                )
        except WebhookProblem as exc:
            raise ConfigError(f"event_types.{wanted['name']}: {exc.message}") from exc
        return str(wanted["name"])


def _endpoint_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """Every stored field of an endpoint as the file wants it (defaults for those left out),
    so an update sets each one: a field removed from the file goes back to its default."""
    return {
        "url": spec.get("url"),
        "description": spec.get("description") or "",
        "event_types": spec.get("event_types") or [],
        "filter": spec.get("filter") or None,
        "headers": spec.get("headers") or None,
        "timeout_seconds": spec.get("timeout_seconds"),
        "rate_limit_per_second": spec.get("rate_limit_per_second"),
        "ordered": bool(spec.get("ordered", False)) or spec.get("ordering_key") is not None,
        "ordering_key": spec.get("ordering_key"),
    }


class EndpointsResource:
    section = "endpoints"

    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks  # an endpoint enabled again resumes its held deliveries

    async def validate(
        self,
        hub: Core,
        spec: dict[str, Any],
        current: dict[str, Any] | None,
        config: dict[str, list[dict[str, Any]]],
    ) -> None:
        refuse_unknown_fields(self.section, spec, _ENDPOINT_FIELDS)
        name = spec["name"]
        try:
            validate_fields(
                {"name": name, **_endpoint_fields(spec)},
                https_only=hub.settings.https_only,
                policy=TargetPolicy.from_settings(hub.settings),
            )
        except WebhookProblem as exc:
            raise ConfigError(f"endpoints.{name}: {exc.message}") from exc
        secret = spec.get("secret")
        if secret is not None and not (isinstance(secret, str) and is_valid_secret(secret)):
            raise ConfigError(
                f"endpoints.{name}: secret must be whsec_ followed by base64 of 24 to 64 bytes"
            )
        if not isinstance(spec.get("disabled", False), bool):
            raise ConfigError(f"endpoints.{name}: disabled must be true or false")

    async def export(self, hub: Core) -> dict[str, dict[str, Any]]:
        async with hub.database.read() as connection:
            found = await list_endpoints(connection, hub.keyring, limit=100_000)
        exported: dict[str, dict[str, Any]] = {}
        for endpoint in found:
            exported.setdefault(
                endpoint.name,
                {
                    "name": endpoint.name,
                    "url": endpoint.url,
                    "description": endpoint.description,
                    "event_types": endpoint.event_types,
                    "filter": endpoint.filter,
                    "headers": {name: REDACTED for name in endpoint.headers},
                    "timeout_seconds": endpoint.timeout_seconds,
                    "rate_limit_per_second": endpoint.rate_limit_per_second,
                    "ordered": endpoint.ordered,
                    "ordering_key": endpoint.ordering_key,
                    "disabled": endpoint.disabled,
                },
            )
        return exported

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": spec["name"],
            "url": spec.get("url"),
            "description": spec.get("description", ""),
            "event_types": sorted(set(spec.get("event_types") or [])),
            "filter": spec.get("filter") or None,
            "headers": {name: REDACTED for name in spec.get("headers") or {}},
            "timeout_seconds": float(spec.get("timeout_seconds") or DEFAULT_TIMEOUT),
            "rate_limit_per_second": spec.get("rate_limit_per_second"),
            "ordered": bool(spec.get("ordered", False)) or spec.get("ordering_key") is not None,
            "ordering_key": spec.get("ordering_key"),
            "disabled": bool(spec.get("disabled", False)),
        }

    async def apply(self, hub: Core, spec: dict[str, Any], current: dict[str, Any] | None) -> str:
        await self.validate(hub, spec, current, {})
        name = spec["name"]
        fields = _endpoint_fields(spec)
        disabled = bool(spec.get("disabled", False))
        now = hub.clock.now()
        https_only = hub.settings.https_only
        try:
            async with hub.database.transaction() as tx:
                if current is None:
                    endpoint = await create_endpoint(
                        tx,
                        hub.keyring,
                        {"name": name, **fields, "disabled": disabled},
                        now=now,
                        https_only=https_only,
                        secret=spec.get("secret"),
                        policy=TargetPolicy.from_settings(hub.settings),
                    )
                    endpoint_id = endpoint.id
                else:
                    stored = await list_endpoints(tx, hub.keyring, limit=100_000)
                    endpoint_id = next(e.id for e in stored if e.name == name)
                    await update_endpoint(
                        tx,
                        hub.keyring,
                        endpoint_id,
                        fields,
                        now=now,
                        https_only=https_only,
                        policy=TargetPolicy.from_settings(hub.settings),
                    )
                    if disabled:
                        await set_disabled(tx, endpoint_id, True, now=now)
                await hub.audit(
                    tx,
                    None,
                    "endpoint.applied",
                    target_type="endpoint",
                    target_id=endpoint_id,
                    details={"name": name, "via": "apply"},
                )
            if current is not None and not disabled and current.get("disabled"):
                await self.webhooks.resume(endpoint_id)
        except WebhookProblem as exc:
            raise ConfigError(f"endpoints.{name}: {exc.message}") from exc
        return endpoint_id
