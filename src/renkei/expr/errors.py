"""Exceptions raised by the expression language, and the problems they carry.

::

    FlowError                  anything wrong in a filter, mapping, template or path
    ├── PathError              a malformed dotted path ("", "a..b")
    ├── SpecError              a saved spec is invalid; ``.problems`` lists every finding
    │   ├── FilterError        compile_filter: unknown operator, wrong operand type, bad regex
    │   └── MappingError       compile_mapping: unknown conversion, bad format, bad rule
    └── TemplateError          compile_template or rendering: syntax, unknown filter,
                               undefined variable (strict), limits, output that is not JSON

Specs are checked when saved, so a :class:`SpecError` reaches the API as a 422 with its
problems as details. At run time a mapping never raises for bad data: it reports
:class:`FieldProblem` entries instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One finding in a spec; ``message`` is a full sentence that names ``where``."""

    where: str
    message: str
    operator: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A field a mapping could not fill: the value that failed and why."""

    field: str
    value: object
    conversion: str | None
    reason: str


class FlowError(Exception):
    """Base of every error raised by ``renkei.expr``."""


class PathError(FlowError):
    """A dotted path is malformed."""


class SpecError(FlowError):
    """A spec failed validation; ``problems`` holds every finding, in spec order."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems: tuple[SpecProblem, ...] = tuple(problems)
        super().__init__("; ".join(problem.message for problem in self.problems))

    @property
    def where(self) -> str:
        return self.problems[0].where if self.problems else ""

    @property
    def operator(self) -> str | None:
        return self.problems[0].operator if self.problems else None


class FilterError(SpecError):
    """A filter spec is invalid."""


class MappingError(SpecError):
    """A mapping spec is invalid."""


class TemplateError(FlowError):
    """A template failed to compile or render; ``line``/``column`` locate it when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.message = message
        self.line = line
        self.column = column
        super().__init__(message if line is None else f"{message} (line {line}, column {column})")
