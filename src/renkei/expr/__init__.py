"""The expression language: what a user writes inside a flow, a sync or a connector action.

Dotted paths into a document (``paths``), filters over events (``filter``), field mappings
with conversions (``mapping``), Liquid templates with limits (``templates``) and values that
may hold Liquid (``values``), with their errors (``errors``) and the collector that reports
every problem of a spec at once (``problems``). Pure and synchronous: no database, no I/O,
no clock; it imports nothing from the rest of Renkei, so every feature can build on it.
"""

from renkei.expr.errors import (
    FieldProblem,
    FilterError,
    FlowError,
    MappingError,
    PathError,
    SpecError,
    SpecProblem,
    TemplateError,
)
from renkei.expr.filter import Filter, compile_filter, validate_filter
from renkei.expr.mapping import FieldMapping, MappingResult, compile_mapping, validate_mapping
from renkei.expr.paths import MISSING, compile_path, get_path, parse_path, set_path
from renkei.expr.templates import Template, TemplateFormat, compile_template

__all__ = [
    "MISSING",
    "FieldMapping",
    "FieldProblem",
    "Filter",
    "FilterError",
    "FlowError",
    "MappingError",
    "MappingResult",
    "PathError",
    "SpecError",
    "SpecProblem",
    "Template",
    "TemplateError",
    "TemplateFormat",
    "compile_filter",
    "compile_mapping",
    "compile_path",
    "compile_template",
    "get_path",
    "parse_path",
    "set_path",
    "validate_filter",
    "validate_mapping",
]
