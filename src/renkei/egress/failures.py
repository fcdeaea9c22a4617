"""Why an outbound request got no HTTP response: the one classification of transport errors.

Webhook attempts record :class:`Failure` as they are; connector calls raise it as an httpx
transport error (``transport.py``) that the connector taxonomy reads. Messages name hosts
and ports, never URLs (a URL may hold a token).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from enum import StrEnum

import aiohttp

from renkei.egress.errors import TargetRefused

__all__ = ["ErrorKind", "Failure", "describe"]


class ErrorKind(StrEnum):
    """Why an attempt got no HTTP response."""

    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    DNS = "dns"
    TLS = "tls"
    POLICY = "policy"
    CONNECTION = "connection"
    INVALID_REQUEST = "invalid_request"


@dataclass(frozen=True, slots=True)
class Failure:
    kind: ErrorKind
    message: str
    sent: bool
    """Whether the request may have reached the target (False: safe to retry any method)."""


def describe(exc: BaseException, timeout: float | None = None) -> Failure:
    """Classify ``exc``, raised while sending (aiohttp, the socket or the target policy)."""
    if isinstance(exc, TargetRefused):
        return Failure(ErrorKind.POLICY, str(exc), sent=False)
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass it too
        within = f" within {timeout:g} s" if timeout is not None else ""
        message = f"timeout: no complete response{within}"
        connecting = isinstance(exc, aiohttp.ConnectionTimeoutError)
        return Failure(ErrorKind.TIMEOUT, message, sent=not connecting)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return Failure(ErrorKind.DNS, f"DNS failure: cannot resolve {exc.host}", sent=False)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        message = f"TLS error with {exc.host}: {exc.certificate_error}"
        return Failure(ErrorKind.TLS, message, sent=False)
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        sent = not isinstance(exc, aiohttp.ClientSSLError)  # the handshake failed, or later
        return Failure(ErrorKind.TLS, f"TLS error: {getattr(exc, 'os_error', exc)}", sent=sent)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            message = f"connection refused by {exc.host}:{exc.port}"
            return Failure(ErrorKind.CONNECTION_REFUSED, message, sent=False)
        reason = exc.os_error.strerror or exc.os_error
        message = f"cannot connect to {exc.host}:{exc.port}: {reason}"
        return Failure(ErrorKind.CONNECTION, message, sent=False)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Failure(ErrorKind.CONNECTION, "connection closed before a response", sent=True)
    if isinstance(exc, aiohttp.InvalidURL):
        message = "invalid request: the URL is malformed"
        return Failure(ErrorKind.INVALID_REQUEST, message, sent=False)
    if isinstance(exc, aiohttp.ClientResponseError):
        return Failure(ErrorKind.CONNECTION, f"invalid HTTP response: {exc.message}", sent=True)
    message = f"connection error: {type(exc).__name__}: {exc}"
    return Failure(ErrorKind.CONNECTION, message, sent=True)
