"""Outbound webhook delivery: signing, the SSRF guard, the HTTP client, attempt outcomes."""

from renkei.delivery.client import AttemptResult, HttpClient, Sender
from renkei.delivery.errors import (
    DeliveryError,
    ErrorKind,
    InvalidSecret,
    SignatureInvalid,
    TargetRefused,
)
from renkei.delivery.outcome import Outcome, OutcomeKind, classify, parse_retry_after
from renkei.delivery.signing import (
    build_headers,
    generate_secret,
    serialize_payload,
    sign,
    validate_secret,
    verify,
)
from renkei.delivery.ssrf import TargetPolicy, parse_networks

__all__ = [
    "AttemptResult",
    "DeliveryError",
    "ErrorKind",
    "HttpClient",
    "InvalidSecret",
    "Outcome",
    "OutcomeKind",
    "Sender",
    "SignatureInvalid",
    "TargetPolicy",
    "TargetRefused",
    "build_headers",
    "classify",
    "generate_secret",
    "parse_networks",
    "parse_retry_after",
    "serialize_payload",
    "sign",
    "validate_secret",
    "verify",
]
