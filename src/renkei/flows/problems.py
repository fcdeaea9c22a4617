"""The error a flow spec raises with every problem found, so one save reports them all: a
:class:`~renkei.errors.Invalid` (422 ``invalid_flow``, the problems as details)."""

from __future__ import annotations

from typing import Any

from renkei.errors import Invalid
from renkei.expr.errors import FlowError

__all__ = ["FlowSpecError"]


class FlowSpecError(FlowError, Invalid):
    """A flow spec is invalid; ``problems`` lists every finding with its path."""

    default_code = "invalid_flow"

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        first = problems[0]["message"] if problems else "invalid flow"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more, details=problems)
