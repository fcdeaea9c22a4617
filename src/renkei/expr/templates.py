"""Liquid templates (python-liquid 2), sandboxed and bounded.

``compile_template(source, "json")`` checks syntax and filter names when a flow is saved;
``Template.render(context)`` returns the parsed JSON value (``"json"``) or the text
(``"text"``). Every failure, at compile or render time, is a :class:`TemplateError`.

The sandbox has no loader, so ``include`` and ``render`` are not tags at all. Rendering is
bounded by :data:`MAX_SOURCE_CHARS`, :data:`MAX_OUTPUT_BYTES`, :data:`MAX_LOOP_ITERATIONS`
(all loops of one render together), :data:`MAX_LOCALS_BYTES` and :data:`MAX_RANGE_ITEMS`
(a filter given ``(1..100000000)``), which together bound render time without a clock.

In JSON templates every ``{{ ... }}`` is escaped as JSON string content, so
``"{{ event.user_id }}"`` stays valid whatever the id holds; the ``json`` filter emits a
whole JSON value instead: ``{"name": {{ profile.name | json }}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from functools import wraps
from io import StringIO
from typing import Any, Final, Literal, TextIO

from liquid import Environment, FalsyStrictUndefined, Mode, Undefined
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.context import RenderContext
from liquid.exceptions import (
    FilterValueError,
    LiquidError,
    LoopIterationLimitError,
    UndefinedError,
)
from liquid.output import LimitedStringIO
from liquid.stringify import to_liquid_string
from liquid.template import BoundTemplate

from renkei.expr.errors import TemplateError

__all__ = ["Template", "TemplateFormat", "compile_template"]

TemplateFormat = Literal["json", "text"]

MAX_SOURCE_CHARS: Final = 64 * 1024
MAX_OUTPUT_BYTES: Final = 1024 * 1024
MAX_LOOP_ITERATIONS: Final = 100_000
MAX_LOCALS_BYTES: Final = 1024 * 1024
MAX_RANGE_ITEMS: Final = 10_000
_DISABLED_TAGS: Final = ("include", "render")


class Template:
    """A compiled template; render it as often as needed, from any thread."""

    __slots__ = ("_bound", "format", "source", "strict")

    def __init__(
        self, source: str, format: TemplateFormat, strict: bool, bound: BoundTemplate
    ) -> None:
        self.source = source
        self.format = format
        self.strict = strict
        self._bound = bound

    def render(self, context: Mapping[str, object]) -> object:
        """The parsed JSON value for a ``"json"`` template, the text for a ``"text"`` one."""
        text = self.render_text(context)
        return _parse_json(text) if self.format == "json" else text

    def render_text(self, context: Mapping[str, object]) -> str:
        """The rendered text, unparsed (a JSON template's raw output, for previews)."""
        try:
            return self._bound.render(context)
        except LiquidError as exc:
            raise _from_liquid(exc) from exc
        except Exception as exc:
            raise TemplateError(f"template failed to render: {exc}") from exc

    def __repr__(self) -> str:
        return f"Template(format={self.format!r}, strict={self.strict!r})"


def compile_template(
    source: str, format: TemplateFormat = "json", *, strict: bool = False
) -> Template:
    """Parse ``source`` and check its filters; ``strict`` makes undefined variables errors.

    With ``strict``, ``{{ missing }}`` fails while ``{% if missing %}`` and
    ``{{ missing | default: "x" }}`` still work.
    """
    if format not in ("json", "text"):
        raise TemplateError(f"unknown template format {format!r} (expected 'json' or 'text')")
    if not isinstance(source, str):
        raise TemplateError("a template source must be a string")
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateError(f"template is longer than {MAX_SOURCE_CHARS} characters")
    env = _ENVIRONMENTS[(format, strict)]
    try:
        bound = env.from_string(source)
        _check_filters(env, bound, source)
    except LiquidError as exc:
        raise _from_liquid(exc) from exc
    return Template(source, format, strict, bound)


def _check_filters(env: Environment, bound: BoundTemplate, source: str) -> None:
    for name, spans in bound.analyze().filters.items():
        if name not in env.filters:
            line, column = spans[0].line_col(source)
            raise TemplateError(f"unknown filter '{name}'", line=line, column=column + 1)


def _from_liquid(exc: LiquidError) -> TemplateError:
    message = str(exc.message) if exc.message is not None else type(exc).__name__
    try:
        context = exc.context()
    except ValueError:
        context = None
    if context is None:
        return TemplateError(message)
    line, column, *_ = context
    return TemplateError(message, line=line, column=column + 1)


def _parse_json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"rendered JSON is invalid: {exc.msg}", line=exc.lineno, column=exc.colno
        ) from exc
    except RecursionError as exc:
        raise TemplateError("rendered JSON nests too deeply") from exc


class _JsonText(str):
    """Output of the ``json`` filter: already a JSON value, written as is."""

    __slots__ = ()


def _json_filter(value: object) -> _JsonText:
    if isinstance(value, Undefined):
        if isinstance(value, FalsyStrictUndefined):
            raise UndefinedError(value.msg, token=value.token)
        return _JsonText("null")
    try:
        return _JsonText(json.dumps(value, ensure_ascii=False, allow_nan=False, default=_plain))
    except (TypeError, ValueError) as exc:
        raise FilterValueError(f"json: {exc}", token=None) from exc


def _plain(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | range):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json_string_content(value: object) -> str:
    if isinstance(value, _JsonText):
        return value
    return json.dumps(to_liquid_string(value, autoescape=False), ensure_ascii=False)[1:-1]


class _JsonOutputNode(OutputNode):
    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(_json_string_content(self.expression.evaluate(context)))


class _JsonEchoNode(EchoNode, _JsonOutputNode):
    pass


class _JsonOutput(Output):
    node_class = _JsonOutputNode


class _JsonEcho(EchoTag):
    node_class = _JsonEchoNode


class _StrictUndefined(FalsyStrictUndefined):
    force_liquid_default = True


class _Buffer(LimitedStringIO):
    """Size-limited like liquid's own, but keeps ``\r`` as written instead of translating it."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit, newline="\n")


class _BudgetContext(RenderContext):
    """Counts loop iterations across the whole render, not only nested ones."""

    __slots__ = ("_iterations",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._iterations = 0

    def raise_for_loop_limit(self, length: int = 1) -> None:
        super().raise_for_loop_limit(length)
        self._iterations += length
        if self._iterations > MAX_LOOP_ITERATIONS:
            raise LoopIterationLimitError(
                f"more than {MAX_LOOP_ITERATIONS} loop iterations", token=None
            )

    def get_buffer(self, buf: TextIO | None = None) -> StringIO:
        used = buf.size if isinstance(buf, LimitedStringIO) else 0
        return _Buffer(MAX_OUTPUT_BYTES - used)


class _BudgetTemplate(BoundTemplate):
    context_class = _BudgetContext

    def _get_buffer(self) -> StringIO:
        return _Buffer(MAX_OUTPUT_BYTES)


def _bounded_ranges(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        for arg in args:
            if isinstance(arg, range) and len(arg) > MAX_RANGE_ITEMS:
                raise FilterValueError(f"range longer than {MAX_RANGE_ITEMS} items", token=None)
        return func(*args, **kwargs)

    return guarded


class _SandboxEnvironment(Environment):
    template_class = _BudgetTemplate
    loop_iteration_limit = MAX_LOOP_ITERATIONS
    local_namespace_limit = MAX_LOCALS_BYTES
    output_stream_limit = MAX_OUTPUT_BYTES

    def __init__(self, format: TemplateFormat, strict: bool) -> None:
        super().__init__(
            tolerance=Mode.STRICT,
            undefined=_StrictUndefined if strict else Undefined,
            strict_filters=True,
        )
        for name in _DISABLED_TAGS:
            del self.tags[name]
        if format == "json":
            self.add_tag(_JsonOutput)
            self.add_tag(_JsonEcho)
        self.add_filter("json", _json_filter)
        for name, func in list(self.filters.items()):
            self.filters[name] = _bounded_ranges(func)


_ENVIRONMENTS: Final[dict[tuple[str, bool], _SandboxEnvironment]] = {
    (format, strict): _SandboxEnvironment(format, strict)
    for format in ("json", "text")
    for strict in (False, True)
}
