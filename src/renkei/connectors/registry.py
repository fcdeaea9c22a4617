"""The catalog: every connector class Renkei ships, by name.

Vendor modules are found rather than listed: every public module of this package that is not
part of the SDK core is imported, and each :class:`Connector` subclass with its own ``spec``
is registered under ``spec.name``. A module that fails to import is logged and skipped, so
one broken connector never takes the others down.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from functools import cache

import structlog

from renkei.connectors.errors import ConfigurationError
from renkei.connectors.spec import Connector, ConnectorSpec
from renkei.connectors.sync_objects import SyncObject

__all__ = ["ConnectorRegistry", "default_registry"]

log = structlog.get_logger("renkei.connectors")

# Modules of the SDK and the runtime, which hold no vendor connector.
_CORE = frozenset(
    {
        "auth",
        "batching",
        "connections",
        "db_limits",
        "errors",
        "feature",
        "http",
        "limits",
        "metrics",
        "pagination",
        "registry",
        "resource",
        "retry",
        "runtime",
        "service",
        "spec",
        "sync_objects",
    }
)


class ConnectorRegistry:
    def __init__(self) -> None:
        self._classes: dict[str, type[Connector]] = {}
        self._instances: dict[str, Connector] = {}

    def add(self, cls: type[Connector]) -> None:
        name = cls.spec.name
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"two connectors are called {name!r}")
        self._classes[name] = cls

    def get(self, name: str) -> Connector:
        """The shared instance of connector ``name`` (it caches OAuth2 tokens)."""
        instance = self._instances.get(name)
        if instance is None:
            cls = self._classes.get(name)
            if cls is None:
                known = ", ".join(sorted(self._classes)) or "none"
                raise ConfigurationError(
                    f"unknown connector {name!r} (known: {known})", code="unknown_connector"
                )
            instance = self._instances[name] = cls()
        return instance

    def fresh(self) -> ConnectorRegistry:
        """The same catalog with instances of its own (each hub caches its own tokens)."""
        copy = ConnectorRegistry()
        copy._classes = dict(self._classes)
        return copy

    def spec(self, name: str) -> ConnectorSpec:
        return self.get(name).spec

    def sync_objects(self, name: str) -> tuple[SyncObject, ...]:
        """What connector ``name`` declares for syncs (nothing for a name it does not know)."""
        cls = self._classes.get(name)
        return () if cls is None else cls.sync_objects

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[ConnectorSpec]:
        return iter(self._classes[name].spec for name in sorted(self._classes))

    @property
    def names(self) -> list[str]:
        return sorted(self._classes)


def _discover() -> list[type[Connector]]:
    package = importlib.import_module("renkei.connectors")
    found: list[type[Connector]] = []
    for module_info in pkgutil.iter_modules(package.__path__):
        name = module_info.name
        if name.startswith("_") or name in _CORE:
            continue
        try:
            module = importlib.import_module(f"renkei.connectors.{name}")
        except Exception:
            log.exception("connector.module_failed", module=name)
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Connector)
                and "spec" in value.__dict__
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


@cache
def default_registry() -> ConnectorRegistry:
    """Every connector found in this package (built once per process)."""
    registry = ConnectorRegistry()
    for cls in sorted(_discover(), key=lambda c: c.spec.name):
        registry.add(cls)
    return registry
