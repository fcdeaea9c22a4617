"""Normalising and hashing emails and phone numbers the way ad platforms match them.

Google Ads, Meta and LinkedIn match people on the SHA-256 of an email or phone number, so the
same person only matches when both sides normalised the value the same way before hashing:

- Email, every vendor: trim, lowercase. Google additionally removes the dots of the local
  part of ``gmail.com`` and ``googlemail.com`` addresses (what its client libraries'
  ``normalizeAndHashEmailAddress`` samples do; a ``+tag`` is kept).
- Phone: E.164, the country code included. Google hashes it with the leading ``+``
  (``+16505551212``), Meta with digits only (``16505551212``).
- A value that already is a SHA-256 digest (64 hex digits) is passed through, lowercased:
  callers may hash upstream, and hashing a hash would never match.

Connectors call these on the identifiers of each record they send; flows can reach them
through the ``hash_email`` and ``hash_phone`` mapping conversions.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final, Literal

__all__ = [
    "PhoneStyle",
    "Vendor",
    "hash_email",
    "hash_phone",
    "is_sha256_hex",
    "normalize_email",
    "normalize_phone",
    "sha256_hex",
]

Vendor = Literal["google", "meta", "linkedin", "plain"]
PhoneStyle = Literal["plus", "digits"]

_HEX64: Final = re.compile(r"^[0-9a-fA-F]{64}$")
_GOOGLE_DOT_BLIND: Final = frozenset({"gmail.com", "googlemail.com"})
# Which style of E.164 each vendor hashes.
PHONE_STYLE: Final[dict[Vendor, PhoneStyle]] = {
    "google": "plus",
    "meta": "digits",
    "linkedin": "plus",
    "plain": "plus",
}


def sha256_hex(text: str) -> str:
    """The lowercase hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """Whether ``value`` already is a SHA-256 digest in hex (either case)."""
    return bool(_HEX64.match(value))


def normalize_email(value: str, vendor: Vendor = "plain") -> str:
    """``value`` trimmed and lowercased, plus the vendor's own rules. Raises ValueError for
    a value that is not an address (no local part or no domain)."""
    email = value.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in email):
        raise ValueError("not an email address")
    if vendor == "google" and domain in _GOOGLE_DOT_BLIND:
        local = local.replace(".", "")
        if not local:
            raise ValueError("not an email address")
    return f"{local}@{domain}"


def normalize_phone(
    value: str, style: PhoneStyle = "plus", *, default_country_code: str | None = None
) -> str:
    """``value`` in E.164: ``+`` and country code then the number, 8 to 15 digits in all
    (``style="digits"`` leaves the ``+`` out, as Meta wants).

    Spaces, dashes, dots, brackets are dropped; a leading ``00`` is the international
    prefix. A number without either needs ``default_country_code`` (``"81"``): its trunk
    ``0`` is dropped and the code put in front. Raises ValueError when no E.164 number
    can be made."""
    text = value.strip()
    if re.search(r"[A-Za-z]", text):
        raise ValueError("a phone number has no letters")
    international = text.startswith("+")
    digits = re.sub(r"\D", "", text)
    if not international and digits.startswith("00"):
        international, digits = True, digits[2:]
    if not international:
        if default_country_code is None:
            raise ValueError("a phone number needs its country code (+ and digits)")
        code = default_country_code.lstrip("+")
        if not code.isdigit():
            raise ValueError("the default country code must be digits")
        digits = code + digits.lstrip("0")
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        raise ValueError("not an E.164 phone number")
    return digits if style == "digits" else f"+{digits}"


def hash_email(value: str, vendor: Vendor = "plain") -> str:
    """The SHA-256 the vendor matches ``value`` on; a digest passes through lowercased."""
    if is_sha256_hex(value.strip()):
        return value.strip().lower()
    return sha256_hex(normalize_email(value, vendor))


def hash_phone(
    value: str, vendor: Vendor = "plain", *, default_country_code: str | None = None
) -> str:
    """The SHA-256 of the vendor's E.164 form of ``value``; a digest passes through."""
    if is_sha256_hex(value.strip()):
        return value.strip().lower()
    style = PHONE_STYLE[vendor]
    return sha256_hex(normalize_phone(value, style, default_country_code=default_country_code))
