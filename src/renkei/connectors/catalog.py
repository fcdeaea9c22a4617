"""The connector catalog as users see it, Segment-style: every connector with its
operations, the credential and config fields it needs (names and descriptions, never
values) and its limits. The API (``GET /api/v1/connectors``) and the CLI (``renkei
connectors list``) both read :func:`list_connectors` and :func:`describe_connector`.

Connectors come from :func:`renkei.connectors.registry.default_registry`, which finds
every vendor module of the package. Beyond the spec, a connector class may document
``operation_limits`` (per-operation windows, e.g. Klaviyo's burst and steady) and
``limits_notes`` (limits that are not rates: batch caps, page sizes).

An entry also says what syncs can do with the connector (its declared ``sync_objects``,
with their directions) and how it authenticates (``auth``: from its OAuth provider and its
credential fields, or an ``auth_kinds`` class attribute). Which sandbox serves it is joined
in by the use case (connectors do not know the sandboxes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from renkei.connectors.registry import ConnectorRegistry, default_registry
from renkei.connectors.spec import Connector
from renkei.connectors.sync_objects import PullEvents, PullProfiles, PushEvents, PushProfiles
from renkei.errors import NotFound, RenkeiError

__all__ = ["UnknownConnector", "describe", "describe_connector", "format_limits", "list_connectors"]


class UnknownConnector(NotFound, LookupError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        RenkeiError.__init__(
            self, f"unknown connector {name!r} (known: {', '.join(known) or 'none'})"
        )
        self.kind = "connector"
        self.object_id = name
        self.name = name


def describe(connector: Connector | type[Connector]) -> dict[str, Any]:
    """One catalog entry. Secret fields are listed by name only: no value, no default."""
    cls = connector if isinstance(connector, type) else type(connector)
    spec = cls.spec
    raw = spec.as_dict()
    operation_limits: Mapping[str, Sequence[Any]] = getattr(cls, "operation_limits", {})
    operations = []
    for op in raw.get("operations", []):
        windows = [w.as_dict() for w in operation_limits.get(op["name"], ())]
        operations.append({**op, "limits": windows})
    return {
        "name": spec.name,
        "title": spec.title,
        "docs_url": spec.docs_url,
        "credentials": [
            {
                "name": f.name,
                "description": f.description,
                "required": f.required,
                "secret": f.secret,
            }
            for f in spec.credentials
        ],
        "config": [
            {
                "name": f.name,
                "description": f.description,
                "required": f.required,
                "secret": f.secret,
                "default": None if f.secret else f.default,
            }
            for f in spec.config
        ],
        "operations": operations,
        "sync_objects": [_sync_object(declared) for declared in cls.sync_objects],
        "directions": sorted({declared.direction for declared in cls.sync_objects}),
        "auth": auth_kinds(cls),
        "limits": {
            "rate_limit": raw.get("rate_limit"),
            "rate_limit_pools": raw.get("rate_limit_pools") or {},
            "daily_quota": raw.get("daily_quota"),
            "per_operation": {
                name: [w.as_dict() for w in windows] for name, windows in operation_limits.items()
            },
            "batch_sizes": {op.name: op.max_batch_size for op in spec.operations if op.batchable},
            "notes": list(getattr(cls, "limits_notes", ())),
        },
    }


# Credential field -> the kind of auth it stands for (in the order kinds are listed).
_AUTH_FIELDS = (
    ("access_token", "access_token"),
    ("refresh_token", "oauth2_refresh_token"),
    ("client_secret", "oauth2_client_credentials"),
    ("api_key", "api_key"),
    ("rest_api_key", "api_key"),
    ("api_secret", "api_key"),
    ("developer_token", "api_key"),
    ("token", "bearer"),
    ("password", "basic"),
    ("webhook_url", "webhook_url"),
)


def auth_kinds(cls: type[Connector]) -> list[str]:
    """How a connection of ``cls`` authenticates: ``oauth2_authorization_code`` when it has
    a "Connect" flow, then what its credential fields are for."""
    declared: Sequence[str] | None = getattr(cls, "auth_kinds", None)
    if declared:
        return list(declared)
    names = {f.name for f in cls.spec.credentials}
    kinds = ["oauth2_authorization_code"] if getattr(cls, "oauth", None) is not None else []
    for name, kind in _AUTH_FIELDS:
        if name in names and kind not in kinds:
            if kind == "oauth2_client_credentials" and "refresh_token" in names:
                continue  # the client of a refresh-token grant, not a grant of its own
            kinds.append(kind)
    return kinds


def _sync_object(declared: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": declared.name, "direction": declared.direction}
    if isinstance(declared, PullProfiles):
        entry |= {"kind": "profiles", "identity": declared.identity}
    elif isinstance(declared, PullEvents):
        entry |= {"kind": "events"}
    elif isinstance(declared, PushProfiles):
        entry |= {
            "kind": "profiles",
            "operation": declared.write,
            "identity": declared.identity,
            "batch_size": declared.batch_size,
        }
        if declared.cookie_link is not None:
            entry["links_by"] = declared.cookie_link.identity
    elif isinstance(declared, PushEvents):
        entry |= {"kind": "events", "operation": declared.write, "identity": declared.identity}
    return entry


def list_connectors(registry: ConnectorRegistry | None = None) -> list[dict[str, Any]]:
    """Every registered connector, by name."""
    registry = registry or default_registry()
    return [describe(registry.get(name)) for name in registry.names]


def describe_connector(name: str, registry: ConnectorRegistry | None = None) -> dict[str, Any]:
    registry = registry or default_registry()
    if name not in registry:
        raise UnknownConnector(name, registry.names)
    return describe(registry.get(name))


def format_limits(entry: Mapping[str, Any]) -> list[str]:
    """Short human lines for an entry's limits (``3000 calls / 3 s``, ``10 concurrent``)."""
    limits = entry["limits"]
    lines: list[str] = []
    if rate := limits.get("rate_limit"):
        lines += _rate(rate)
    if not limits.get("per_operation"):  # else the per-operation windows say it better
        for pool, rate in sorted((limits.get("rate_limit_pools") or {}).items()):
            lines += [f"{pool}: {line}" for line in _rate(rate)]
    if quota := limits.get("daily_quota"):
        lines.append(
            f"{quota['calls']:,} calls / day (resets {quota['reset']} {quota['timezone']})"
        )
    grouped: dict[str, list[str]] = {}
    for operation, windows in sorted((limits.get("per_operation") or {}).items()):
        text = ", ".join(
            f"{w['calls']:,}/{_unit(w['per_seconds'])}" + (f" {w['name']}" if w["name"] else "")
            for w in windows
        )
        grouped.setdefault(text, []).append(operation)
    lines += [f"{', '.join(operations)}: {text}" for text, operations in grouped.items()]
    return lines


def _rate(rate: Mapping[str, Any]) -> list[str]:
    lines = []
    if rate.get("calls") is not None:
        lines.append(f"{rate['calls']:,}/{_unit(rate['per_seconds'])}")
    if rate.get("concurrency") is not None:
        lines.append(f"{rate['concurrency']} concurrent")
    return lines


def _unit(seconds: float) -> str:
    """``s``, ``min`` or ``3 s``: the window of a "calls per window" rate."""
    if seconds == 1:
        return "s"
    if seconds == 60:
        return "min"
    return f"{seconds:g} s"
