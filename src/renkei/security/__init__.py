"""Secrets at rest, API tokens, the audit trail and redaction."""

from renkei.security.keyring import Keyring, KeyringError, generate_key, load_keyring
from renkei.security.redaction import (
    REDACTED,
    redact,
    redact_header_values,
    redact_headers,
    redact_text,
)
from renkei.security.tokens import Principal, Scope, create_token, scope_allows

__all__ = [
    "REDACTED",
    "Keyring",
    "KeyringError",
    "Principal",
    "Scope",
    "create_token",
    "generate_key",
    "load_keyring",
    "redact",
    "redact_header_values",
    "redact_headers",
    "redact_text",
    "scope_allows",
]
