"""What one step of a run did: counts and errors, added to the run when it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tally"]


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def error(self, message: str, **details: Any) -> None:
        self.add("failed")
        self.errors.append({"message": message[:500], **details})
