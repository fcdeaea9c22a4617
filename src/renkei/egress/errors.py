"""What goes wrong before an outbound request leaves: the target policy refused it.

Messages name the host, address and reason, never a URL's query, credentials or a secret.
"""

from __future__ import annotations

__all__ = ["TargetRefused"]


class TargetRefused(Exception):
    """The target policy forbids this URL or address (SSRF guard)."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"{target} refused by policy: {reason}")
        self.target = target
        self.reason = reason
