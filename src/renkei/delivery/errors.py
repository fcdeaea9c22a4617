"""What goes wrong when signing or sending a webhook.

Messages name the host, address and reason, never a URL's query, credentials or a secret.
"""

from __future__ import annotations

from renkei.errors import Invalid, RenkeiError


class DeliveryError(RenkeiError):
    """Base class of the delivery building blocks' own errors."""


class InvalidSecret(DeliveryError, Invalid, ValueError):
    """A signing secret is not ``whsec_`` + base64 of 24-64 bytes."""

    default_code = "invalid_secret"


class SignatureInvalid(DeliveryError):
    """An inbound Standard Webhooks request failed verification."""
