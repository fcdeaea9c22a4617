"""Values in an action that may hold Liquid: ``"{{ steps.body }}"``, ``"Hi {{ profile.traits.name }}"``.

A string that is exactly one ``{{ dotted.path }}`` passes the value through unchanged (an
object stays an object); any other string with ``{{`` or ``{%`` renders as a text template;
everything else is a constant. Lists and objects are walked, keys included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from renkei.expr.errors import TemplateError
from renkei.expr.paths import MISSING, compile_path
from renkei.expr.problems import Problems
from renkei.expr.templates import compile_template

__all__ = ["Value", "compile_value", "constant"]

Value = Callable[[Mapping[str, object]], object]
_PASSTHROUGH: Final = re.compile(r"\s*\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}\s*", re.ASCII)


def constant(value: object) -> Value:
    return lambda _scope: value


def compile_value(value: object, where: str, problems: Problems) -> Value:
    """A function of the scope; template errors are added to ``problems`` (naming ``where``)."""
    if isinstance(value, str):
        return _string(value, where, problems)
    if isinstance(value, Mapping):
        parts = [
            (
                _string(str(key), f"{where}.{key}", problems),
                compile_value(item, f"{where}.{key}", problems),
            )
            for key, item in value.items()
        ]
        return lambda scope: {str(key(scope)): item(scope) for key, item in parts}
    if isinstance(value, list):
        items = [compile_value(item, f"{where}[{i}]", problems) for i, item in enumerate(value)]
        return lambda scope: [item(scope) for item in items]
    return constant(value)


def _string(text: str, where: str, problems: Problems) -> Value:
    if "{{" not in text and "{%" not in text:
        return constant(text)
    whole = _PASSTHROUGH.fullmatch(text)
    if whole is not None:
        getter = compile_path(whole.group(1))

        def passthrough(scope: Mapping[str, object]) -> object:
            found = getter(scope)
            return None if found is MISSING else found

        return passthrough
    try:
        template = compile_template(text, "text")
    except TemplateError as exc:
        problems.template(where, exc)
        return constant(None)
    return template.render
