"""Reading a configuration file: YAML, with ``${env:NAME}`` references resolved."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from renkei.errors import Invalid

_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Invalid):
    """The file cannot be read, or a section or item is invalid."""


def refuse_unknown_fields(section: str, spec: Mapping[str, Any], allowed: Collection[str]) -> None:
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ConfigError(f"{section}.{spec.get('name')}: unknown field(s) {', '.join(unknown)}")


def resolve_env(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    if isinstance(value, dict):
        return {
            k: resolve_env(v, environ, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [resolve_env(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{path}: environment variable {name} is not set")

        return _ENV_REFERENCE.sub(substitute, value)
    return value


def load_config(
    source: Path | str, *, known_sections: list[str], environ: Mapping[str, str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    text = source.read_text() if isinstance(source, Path) else source
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError("the top level must be a mapping of sections")
    unknown = sorted(set(document) - set(known_sections))
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(unknown)}; known: {', '.join(known_sections)}"
        )
    config: dict[str, list[dict[str, Any]]] = {}
    for section, items in document.items():
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ConfigError(f"{section}: must be a list of mappings")
        names = [item.get("name") for item in items]
        for index, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{section}[{index}]: every item needs a name")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"{section}: duplicate names {', '.join(map(str, duplicates))}")
        config[section] = resolve_env(
            items, environ if environ is not None else os.environ, section
        )
    return config
