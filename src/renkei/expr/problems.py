"""Collecting every problem of a spec, so one save reports them all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from renkei.expr.errors import SpecProblem, TemplateError

__all__ = ["Problems"]


@dataclass
class Problems:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, where: str, message: str, **extra: Any) -> None:
        entry: dict[str, Any] = {"path": where, "message": message}
        entry.update({key: value for key, value in extra.items() if value is not None})
        self.items.append(entry)

    def spec(self, where: str, found: Iterable[SpecProblem]) -> None:
        """Problems from ``validate_filter``/``validate_mapping``, prefixed with ``where``."""
        for problem in found:
            inner = f"{where}: " if where else ""
            self.add(
                f"{where}.{problem.where}" if problem.where else where,
                inner + problem.message,
                operator=problem.operator,
            )

    def template(self, where: str, exc: TemplateError) -> None:
        self.add(where, f"{where}: {exc}", line=exc.line, column=exc.column)

    def __bool__(self) -> bool:
        return bool(self.items)
