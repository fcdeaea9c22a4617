"""Keeping secrets out of logs, errors and API answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

# The one rule for secret names: fields, headers and URL parameters alike, in logs, audit
# entries, flow specs and connector request logs. A header named ``...-Key`` carries a
# credential (``X-API-Key``, ``Ocp-Apim-Subscription-Key``, ``Idempotency-Key``); a field
# named ``key`` or ``ordering_key`` is Renkei's own and stays readable.
_SECRET_NAMES = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|apikey|authorization|auth|credential|signature"
    r"|private[_-]?key|client[_-]?secret|cookie|write[_-]?key|session|access[_-]?key"
    r"|idempotency[_-]?key|-key$)",
    re.IGNORECASE,
)
_SECRET_VALUES = re.compile(
    r"(whsec_[A-Za-z0-9+/=]{8,}|rk_[a-z]+_[A-Za-z0-9_-]{8,}|Bearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|Basic\s+[A-Za-z0-9+/=]{8,}|pat-[a-z0-9-]{8,})"
)


def is_secret_name(name: str) -> bool:
    """Whether a field, header or parameter called ``name`` holds a secret."""
    return bool(_SECRET_NAMES.search(name))


def redact_text(text: str) -> str:
    return _SECRET_VALUES.sub(REDACTED, text)


def redact(
    value: Any, *, known: frozenset[str] = frozenset(), readable: frozenset[str] = frozenset()
) -> Any:
    """A copy of ``value`` with secret-named fields, secret-looking strings and ``known``
    secret values replaced. Fields named in ``readable`` (lower case) keep their value unless
    it looks like a secret: a caller that knows the name is no credential there says so."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and key.lower() not in readable and is_secret_name(key) and v
            else redact(v, known=known, readable=readable)
            for key, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, known=known, readable=readable) for item in value]
    if isinstance(value, str):
        for secret in known:
            if secret and secret in value:
                value = value.replace(secret, REDACTED)
        return redact_text(value)
    return value


# Headers Renkei sets itself on an outbound webhook, whose values are never secret. Every
# other header of a request was configured by someone (an endpoint's custom headers) and may
# carry a credential whatever its name (``X-Partner-Id``), so its value is never shown.
_PLAIN_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "content-type", "content-length"})
_RENKEI_AGENT = re.compile(r"^Renkei[-/][A-Za-z0-9._/-]*$")


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a request Renkei sent, for the attempt log and API answers: only the
    values Renkei sets itself (``webhook-id``, ``webhook-timestamp``, ``content-type``, its own
    ``user-agent``) stay; every other value, a configured header's, is redacted."""
    return {
        name: value if _plain_header(name, value) else REDACTED for name, value in headers.items()
    }


def redact_header_values(headers: Mapping[str, str]) -> dict[str, str]:
    """Configured headers (an endpoint's custom headers): the names, never a value."""
    return {name: REDACTED for name in headers}


def _plain_header(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered == "user-agent":
        return bool(_RENKEI_AGENT.match(value))
    return lowered in _PLAIN_HEADERS
