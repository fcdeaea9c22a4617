"""Errors raised while turning requests into events.

Each error carries what the HTTP layer needs to answer
``{"error": {"code", "message", "details"}}`` with the right status; messages never
contain secrets or expected signatures.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError


class IngestError(Exception):
    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class BadRequest(IngestError):
    """The body can't be read: not JSON, not an object, broken gzip (400)."""


class TooDeep(BadRequest):
    """A value nests objects and arrays deeper than ``envelope.MAX_DEPTH`` (400)."""

    default_code = "json_too_deep"


class NotStorableText(BadRequest):
    """A string holds a NUL character, which PostgreSQL's JSONB cannot store (400); refused
    on every backend alike."""

    default_code = "not_storable"


class Unauthorized(IngestError):
    status = 401
    default_code = "unauthorized"


class PayloadTooLarge(IngestError):
    status = 413
    default_code = "payload_too_large"


class UnsupportedMediaType(IngestError):
    status = 415
    default_code = "unsupported_media_type"


class InvalidEvent(IngestError):
    """The body parses but a message breaks a rule (missing userId, unknown type...) (422)."""

    status = 422
    default_code = "invalid_event"


class VerificationFailed(Unauthorized):
    default_code = "verification_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(IngestError):
    """A verification or mapping config is invalid; ``details`` lists the fields at fault."""

    status = 422
    default_code = "invalid_config"

    @classmethod
    def from_validation_error(cls, what: str, exc: ValidationError) -> ConfigError:
        """Field-by-field details, without echoing the input (it may hold a secret)."""
        details = [
            {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return cls(f"invalid {what}", details=details)
