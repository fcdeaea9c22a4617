"""Finding rows whose JSON document holds a given string anywhere (privacy deletion looks
for a person's email or user id in payloads, contexts and records).

The document's text is searched for the value as a JSON string literal, quotes included,
so that user id ``42`` matches ``"42"`` and not ``"1428"``. SQLite keeps the text as
Python's ``json.dumps`` wrote it (non-ASCII escaped), PostgreSQL renders ``jsonb`` with the
characters themselves: both spellings are tried. A full scan of the table: meant for
rare, bounded work (one deletion), never for a hot path.
"""

from __future__ import annotations

import json

from sqlalchemy import ColumnElement, Text, cast, func, or_
from sqlalchemy.sql.elements import ColumnClause

__all__ = ["holds_string", "holds_string_any_case"]


def holds_string(
    column: ColumnClause[object] | ColumnElement[object], value: str
) -> ColumnElement[bool]:
    forms = dict.fromkeys([json.dumps(value), json.dumps(value, ensure_ascii=False)])
    text = cast(column, Text)
    return or_(*(text.contains(form, autoescape=True) for form in forms))


def holds_string_any_case(
    column: ColumnClause[object] | ColumnElement[object], value: str
) -> ColumnElement[bool]:
    """:func:`holds_string` ignoring case (``value`` lower-case): an email written
    ``Ada@Example.com`` in a document is the identity ``ada@example.com``. A candidate
    filter only (SQLite lower-cases ASCII letters alone): callers check what they find."""
    forms = dict.fromkeys([json.dumps(value), json.dumps(value, ensure_ascii=False)])
    text = func.lower(cast(column, Text))
    return or_(*(text.contains(form, autoescape=True) for form in forms))
