"""Outbound webhook delivery: signing, the HTTP client, attempt outcomes.

The SSRF guard and the policy session it sends through are :mod:`renkei.egress`.
"""

from renkei.delivery.client import AttemptResult, HttpClient, Sender
from renkei.delivery.errors import DeliveryError, InvalidSecret, SignatureInvalid
from renkei.delivery.outcome import Outcome, OutcomeKind, classify
from renkei.delivery.signing import (
    build_headers,
    generate_secret,
    serialize_payload,
    sign,
    validate_secret,
    verify,
)
from renkei.egress.failures import ErrorKind

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
    "build_headers",
    "classify",
    "generate_secret",
    "serialize_payload",
    "sign",
    "validate_secret",
    "verify",
]
