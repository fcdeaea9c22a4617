"""Flows: the pure building blocks (filters, mappings, templates, paths) and, later, the engine."""

from renkei.flows.errors import (
    FieldProblem,
    FilterError,
    FlowError,
    MappingError,
    PathError,
    SpecError,
    SpecProblem,
    TemplateError,
)
from renkei.flows.filter import Filter, compile_filter, validate_filter
from renkei.flows.mapping import FieldMapping, MappingResult, compile_mapping, validate_mapping
from renkei.flows.paths import MISSING, compile_path, get_path, parse_path, set_path
from renkei.flows.templates import Template, TemplateFormat, compile_template

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
