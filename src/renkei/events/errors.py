"""Errors raised while turning requests into events: the ingest branch of
:mod:`renkei.errors`.

The ingest fast paths (``renkei.api.ingest``, ``renkei.api.hooks``) answer them themselves
with :meth:`IngestError.to_dict` and ``status``; elsewhere (a source's config refused by
the management API) the one handler of ``renkei.api.errors`` does. 401, 413 and 415 exist
only on the ingest paths, so those classes carry their own status. Messages never contain
secrets or expected signatures.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from renkei.errors import Invalid, RenkeiError


class IngestError(RenkeiError):
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
    """A string holds a NUL character, which a JSONB column cannot store (400); refused on
    every backend alike."""

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


class InvalidEvent(IngestError, Invalid):
    """The body parses but a message breaks a rule (missing userId, unknown type...) (422)."""

    default_code = "invalid_event"


class VerificationFailed(Unauthorized):
    default_code = "verification_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(IngestError, Invalid):
    """A verification or mapping config is invalid; ``details`` lists the fields at fault."""

    default_code = "invalid_config"

    @classmethod
    def from_validation_error(cls, what: str, exc: ValidationError) -> ConfigError:
        """Field-by-field details, without echoing the input (it may hold a secret)."""
        details = [
            {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return cls(f"invalid {what}", details=details)
