"""What Renkei refuses, in one tree. Every layer raises these (or a subclass named for its
area); the API answers them with ``{"error": {"code", "message", "details"}}`` and the
status below (``renkei.api.errors``), the CLI prints the message on one line and exits 1
(``renkei.cli._common``), the dashboard shows the message beside the form.

    RenkeiError                      400 bad_request
    ├── NotFound                     404 not_found         "<kind> <id> does not exist"
    ├── Invalid                      422 validation_failed  details: the problems
    ├── Conflict                     409 conflict           a name taken, a state that forbids it
    ├── Forbidden                    403 forbidden          the token's scope is too small
    ├── Gone                         410 gone               it existed, it was removed
    ├── TooMany                      429 rate_limited       retry_after
    └── Unavailable                  503 unavailable        retry_after

A subclass may set ``default_code`` to something more precise (``endpoint_paused``); the
status comes from the branch, so a handler never guesses it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "NotFound",
    "RenkeiError",
    "TooMany",
    "Unavailable",
]


class RenkeiError(Exception):
    status = 400
    default_code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details

    def __str__(self) -> str:
        return self.message


class NotFound(RenkeiError):
    status = 404
    default_code = "not_found"

    def __init__(self, kind: str, object_id: str, *, code: str | None = None) -> None:
        super().__init__(f"{kind} {object_id} does not exist", code=code)
        self.kind = kind
        self.object_id = object_id


class Invalid(RenkeiError):
    status = 422
    default_code = "validation_failed"


class Conflict(RenkeiError):
    status = 409
    default_code = "conflict"


class Forbidden(RenkeiError):
    status = 403
    default_code = "forbidden"


class Gone(RenkeiError):
    status = 410
    default_code = "gone"


class _RetryLater(RenkeiError):
    def __init__(
        self, message: str, *, retry_after: int, code: str | None = None, details: Any = None
    ) -> None:
        merged = {"retry_after": retry_after} if details is None else details
        super().__init__(message, code=code, details=merged)
        self.retry_after = retry_after


class TooMany(_RetryLater):
    status = 429
    default_code = "rate_limited"


class Unavailable(_RetryLater):
    status = 503
    default_code = "unavailable"
