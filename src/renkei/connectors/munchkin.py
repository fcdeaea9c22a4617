"""Munchkin (Marketo's tracking JavaScript): the ``_mkto_trk`` cookie and ``marketo_hash``.

- The cookie: ``id:<Munchkin id>&token:_mch-<domain>-<timestamp>-<random>``. Marketo finds
  the lead a cookie belongs to with ``GET /rest/v1/leads.json?filterType=cookies`` and
  associates one with a known lead with ``POST /rest/v1/leads/{id}/associate.json?cookie=``.
- ``marketo_hash``: what Munchkin's ``associateLead`` takes as its third argument, the
  SHA-1 (hex) of the Munchkin API private key followed by the email
  (``hash = sha1(privateKey + email)``), so a page can prove it may write that lead.
"""

from __future__ import annotations

import hashlib

__all__ = ["COOKIE_IDENTITY", "PRIVATE_KEY", "is_munchkin_cookie", "marketo_hash"]

COOKIE_IDENTITY = "marketo_cookie"
PRIVATE_KEY = "munchkin_private_key"
_MAX_COOKIE = 255  # Marketo's cookies field length


def marketo_hash(private_key: str, email: str) -> str:
    """``sha1(private key + email)`` in hex, the email as given (Munchkin hashes the exact
    string the page passes as ``Email``)."""
    return hashlib.sha1((private_key + email).encode(), usedforsecurity=False).hexdigest()


def is_munchkin_cookie(value: object) -> bool:
    """A ``_mkto_trk`` value (Marketo refuses anything without its ``_mch-`` token)."""
    return isinstance(value, str) and 0 < len(value) <= _MAX_COOKIE and "_mch-" in value
