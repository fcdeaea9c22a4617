"""What can go wrong when Renkei talks to a vendor, and what the caller should do about it.

::

    ConnectorError                        every failure a connector reports
    ├── RetryableError(retry_after)       transient (timeout, 5xx): try again, not before
    │                                     retry_after seconds if the vendor said
    │   └── RateLimitedError              the vendor throttled us (HTTP 429, Marketo 606/615)
    ├── ReauthenticateError               the access token is invalid or expired: fetch a new one
    │                                     and retry once (the HTTP wrapper does this)
    ├── QuotaExhaustedError(resets_at)    the daily quota is spent until resets_at
    └── PermanentError                    the same request can never succeed (4xx, invalid input)
        └── ConfigurationError            the connection itself is wrong: credentials refused,
            │                             missing settings; a human has to act
            └── GrantRevoked              the OAuth grant is gone (refresh answered
                                          invalid_grant, a token that cannot be refreshed
                                          expired): the user must Connect again

    RecordError(index, code, message)     not raised: one failed record of a partly successful
                                          batch, carried in an OperationResult

The layers above act on the class alone: retry a RetryableError (in process for short waits,
through the durable queue for long ones), park work until ``resets_at`` on QuotaExhaustedError,
dead-letter on PermanentError, pause the connection and alert on ConfigurationError.

Messages never contain credentials: they are built from redacted URLs, status codes and vendor
error codes, and the HTTP wrapper scrubs every known secret value from them before raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

__all__ = [
    "ConfigurationError",
    "ConnectorError",
    "GrantRevoked",
    "PermanentError",
    "QuotaExhaustedError",
    "RateLimitedError",
    "ReauthenticateError",
    "RecordError",
    "RetryableError",
]


class ConnectorError(Exception):
    """Base class. ``code`` is a short machine-readable reason (a vendor code such as ``"601"``,
    an HTTP status such as ``"503"``, or one of ours such as ``"timeout"``)."""

    def __init__(
        self, message: str, *, code: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class RetryableError(ConnectorError):
    """Transient: the same request may succeed later, no sooner than ``retry_after`` seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """The vendor refused the call because of a rate or concurrency limit."""


class ReauthenticateError(ConnectorError):
    """The vendor says the access token is invalid or expired."""


class QuotaExhaustedError(ConnectorError):
    """The daily call quota is used up; nothing is sent until ``resets_at`` (UTC)."""

    def __init__(self, message: str, *, resets_at: datetime, code: str | None = None) -> None:
        super().__init__(message, code=code or "quota_exhausted")
        self.resets_at = resets_at


class PermanentError(ConnectorError):
    """Retrying the same request cannot succeed."""


class ConfigurationError(PermanentError):
    """The connection's credentials or settings are wrong or refused."""


class GrantRevoked(ConfigurationError):
    """The user's OAuth grant no longer works: the connection needs to be authorized again
    (``needs_reauth``), retrying cannot help."""


@dataclass(frozen=True)
class RecordError:
    """One record of a batch that the vendor rejected; ``index`` is its position in the input."""

    index: int
    code: str
    message: str
    retryable: bool = False
    ok: ClassVar[bool] = False
