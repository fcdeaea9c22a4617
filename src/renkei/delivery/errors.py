"""What goes wrong when signing or sending a webhook.

Messages name the host, address and reason, never a URL's query, credentials or a secret.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """Base class of the delivery building blocks' own errors."""


class InvalidSecret(DeliveryError, ValueError):
    """A signing secret is not ``whsec_`` + base64 of 24-64 bytes."""


class SignatureInvalid(DeliveryError):
    """An inbound Standard Webhooks request failed verification."""
