"""Keeping secrets out of logs, errors and API answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

_SECRET_NAMES = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|apikey|authorization|auth|credential|signature"
    r"|private[_-]?key|client[_-]?secret|cookie|write[_-]?key|session)",
    re.IGNORECASE,
)
_SECRET_VALUES = re.compile(
    r"(whsec_[A-Za-z0-9+/=]{8,}|rk_[a-z]+_[A-Za-z0-9_-]{8,}|Bearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|Basic\s+[A-Za-z0-9+/=]{8,}|pat-[a-z0-9-]{8,})"
)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAMES.search(name))


def redact_text(text: str) -> str:
    return _SECRET_VALUES.sub(REDACTED, text)


def redact(value: Any, *, known: frozenset[str] = frozenset()) -> Any:
    """A copy of ``value`` with secret-named fields, secret-looking strings and ``known``
    secret values replaced."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and is_secret_name(key) and v
            else redact(v, known=known)
            for key, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, known=known) for item in value]
    if isinstance(value, str):
        for secret in known:
            if secret and secret in value:
                value = value.replace(secret, REDACTED)
        return redact_text(value)
    return value


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: REDACTED if is_secret_name(name) else value for name, value in headers.items()}
