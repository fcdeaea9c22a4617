"""Which door a request came in by, for the audit log.

The audit entry names the actor (a token, or "system" for the operator at the machine);
``via`` adds the door when it is not the API (``"cli"``, ``"dashboard"``), as the CLI's
entries always have.
"""

from __future__ import annotations

from typing import Any

__all__ = ["with_via"]


def with_via(via: str | None, details: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """``details`` with ``"via"`` added when a door is named."""
    if via is None:
        return details
    return {**(details or {}), "via": via}
