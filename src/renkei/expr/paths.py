"""Dotted paths into JSON-like documents: ``data.properties.mode``, ``items.0.sku``.

A segment looks up a key in a mapping; on a list it is an index (``-1`` is the last item).
A lookup that cannot be followed yields :data:`MISSING`, which is distinct from ``None``
(a present JSON ``null``). Keys that contain a dot cannot be addressed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, MutableMapping
from typing import Final

from renkei.expr.errors import PathError


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""What a lookup returns when the path does not exist (falsy, and not ``None``)."""

Getter = Callable[[object], object]
_Step = tuple[str, int | None]


def parse_path(path: str) -> tuple[str, ...]:
    """Split ``path`` into segments, rejecting empty paths and empty segments."""
    if not isinstance(path, str) or not path:
        raise PathError(f"a path must be a non-empty string, got {path!r}")
    segments = tuple(path.split("."))
    if "" in segments:
        raise PathError(f"path {path!r} has an empty segment")
    return segments


def get_path(document: object, path: str) -> object:
    """The value at ``path`` in ``document``, or :data:`MISSING`."""
    return compile_path(path)(document)


def compile_path(path: str) -> Getter:
    """A fast getter for ``path``, parsed once; for code that looks the same path up often."""
    steps = tuple(_step(segment) for segment in parse_path(path))
    if len(steps) == 1:
        key, index = steps[0]
        return lambda document: _follow(document, key, index)
    return lambda document: _walk(document, steps)


def set_path(record: MutableMapping[str, object], path: str, value: object) -> None:
    """Set ``value`` at ``path``, creating (or replacing non-mapping values with) dicts."""
    *parents, last = parse_path(path)
    node: MutableMapping[str, object] = record
    for key in parents:
        child = node.get(key)
        if not isinstance(child, MutableMapping):
            child = {}
            node[key] = child
        node = child
    node[last] = value


def _step(segment: str) -> _Step:
    digits = segment[1:] if segment.startswith("-") else segment
    return segment, int(segment) if digits.isdecimal() and digits.isascii() else None


def _walk(document: object, steps: tuple[_Step, ...]) -> object:
    value = document
    for key, index in steps:
        value = _follow(value, key, index)
        if value is MISSING:
            break
    return value


def _follow(value: object, key: str, index: int | None) -> object:
    if type(value) is dict or isinstance(value, Mapping):
        return value.get(key, MISSING)
    if index is not None and isinstance(value, list | tuple):
        try:
            return value[index]
        except IndexError:
            return MISSING
    return MISSING
