"""What the webhook services refuse, with the HTTP status the API answers it with.

The services do not import the HTTP layer; ``renkei.api.v1.endpoints.WebhookRoute`` turns a
:class:`WebhookProblem` into ``{"error": {"code", "message", "details"}}``, and the CLI
prints its message.
"""

from __future__ import annotations

from typing import Any


class WebhookProblem(Exception):
    status = 400
    default_code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details


class NotFoundProblem(WebhookProblem):
    status = 404
    default_code = "not_found"

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"{kind} {object_id} does not exist")


class ConflictProblem(WebhookProblem):
    status = 409
    default_code = "conflict"


class InvalidProblem(WebhookProblem):
    status = 422
    default_code = "validation_failed"


class UnavailableProblem(WebhookProblem):
    """Storage is behind or away: nothing was published; try again after ``retry_after``."""

    status = 503
    default_code = "unavailable"

    def __init__(self, message: str, *, code: str, retry_after: int) -> None:
        super().__init__(message, code=code, details={"retry_after": retry_after})
        self.retry_after = retry_after
