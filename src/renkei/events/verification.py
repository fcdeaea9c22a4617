"""Verification of inbound webhooks, one small class per scheme.

Build a verifier once per source from its config, then call it per request::

    verifier = build_verifier({"scheme": "stripe", "secret": "whsec_..."})
    verifier.verify("POST", public_url, request.headers, raw_body, clock.now())

``verify`` returns ``None`` or raises :class:`VerificationFailed`. Pass the raw body bytes
and, for HubSpot, the URL exactly as the vendor called it (the public one, not the one
behind a proxy). Timestamped schemes refuse requests more than ``tolerance`` seconds
older or newer than ``now``. Comparisons are constant-time; failure reasons never contain
the secret or the expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, Self
from urllib.parse import parse_qs, parse_qsl, urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from renkei.events.envelope import parse_timestamp
from renkei.events.errors import ConfigError, VerificationFailed
from renkei.events.webhook_mapping import FieldSource

__all__ = [
    "MESSAGE_IDS",
    "SCHEMES",
    "BasicAuth",
    "HmacSignature",
    "HubSpotV3",
    "Klaviyo",
    "NoVerification",
    "SendGrid",
    "SharedSecret",
    "Shopify",
    "StandardWebhooks",
    "Stripe",
    "Twilio",
    "Verifier",
    "build_verifier",
]


class Verifier(Protocol):
    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None: ...


Secret = Annotated[SecretStr, Field(min_length=1)]
Tolerance = Annotated[int, Field(gt=0, description="seconds a timestamp may be off from now")]


class _Scheme(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        raise NotImplementedError


class NoVerification(_Scheme):
    """Accept every request (a source that is protected some other way, or a test)."""

    scheme: Literal["none"] = "none"

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        return None


class SharedSecret(_Scheme):
    """A static token in a header or query parameter, for vendors that don't sign
    (Marketo, Braze, OneSignal webhooks let you add one)."""

    scheme: Literal["shared_secret"] = "shared_secret"
    secret: Secret
    header: str | None = Field(default=None, min_length=1)
    query: str | None = Field(default=None, min_length=1)
    prefix: str = Field(default="", description='e.g. "Bearer " before the token')

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.header is None) == (self.query is None):
            raise ValueError("set exactly one of header or query")
        return self

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        if self.header is not None:
            provided, where = _header(headers, self.header), f"{self.header} header"
        else:
            provided, where = _query_param(url, self.query or ""), f"{self.query} query parameter"
        if provided is None:
            raise VerificationFailed(f"missing {where}")
        given_prefix, token = provided[: len(self.prefix)], provided[len(self.prefix) :]
        if given_prefix.lower() != self.prefix.lower():
            raise VerificationFailed(f"{where} does not start with the expected prefix")
        if not _same(token, self.secret.get_secret_value()):
            raise VerificationFailed(f"{where} does not match the shared secret")


class BasicAuth(_Scheme):
    scheme: Literal["basic_auth"] = "basic_auth"
    username: str = Field(min_length=1)
    password: Secret

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        auth_scheme, _, encoded = (_header(headers, "Authorization") or "").strip().partition(" ")
        if auth_scheme.lower() != "basic":
            raise VerificationFailed("missing Basic credentials in the Authorization header")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise VerificationFailed("malformed Basic credentials") from exc
        username, _, password = decoded.partition(":")
        # Both compared every time, so the timing doesn't tell which one was wrong.
        user_ok = _same(username, self.username)
        password_ok = _same(password, self.password.get_secret_value())
        if not (user_ok and password_ok):
            raise VerificationFailed("Basic credentials do not match")


class HmacSignature(_Scheme):
    """Generic HMAC-SHA256 (or SHA-1) of the body, or of ``timestamp + separator + body``."""

    scheme: Literal["hmac"] = "hmac"
    secret: Secret
    header: str = Field(min_length=1)
    algorithm: Literal["sha256", "sha1"] = Field(
        default="sha256", description="sha1 for older senders (Segment's X-Signature)"
    )
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field(default="", description='e.g. "sha256=" before the signature')
    timestamp_header: str | None = Field(default=None, min_length=1)
    separator: str = "."
    tolerance: Tolerance = 300

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        provided = _required_header(headers, self.header)
        message = body
        if self.timestamp_header is not None:
            timestamp = _required_header(headers, self.timestamp_header)
            _check_window(_unix_seconds(timestamp), now, self.tolerance)
            message = f"{timestamp}{self.separator}".encode() + body
        digest = _hmac(self.secret, message, self.algorithm)
        if self.encoding == "hex":
            matches = _same(provided.lower(), (self.prefix + digest.hex()).lower())
        else:
            matches = _same(provided, self.prefix + _b64(digest))
        if not matches:
            raise VerificationFailed("signature does not match")


class StandardWebhooks(_Scheme):
    """Standard Webhooks 1.0 (``webhook-*`` headers) and Svix (``svix-*`` headers)."""

    scheme: Literal["standard_webhooks"] = "standard_webhooks"
    secret: Secret = Field(description="whsec_ followed by base64")
    tolerance: Tolerance = 300

    @model_validator(mode="after")
    def _decodable(self) -> Self:
        self.key()
        return self

    def key(self) -> bytes:
        encoded = self.secret.get_secret_value().removeprefix("whsec_")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error as exc:
            raise ValueError("secret must be whsec_ followed by base64") from exc
        if not key:
            raise ValueError("secret must not be empty")
        return key

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        svix = _header(headers, "webhook-id") is None and _header(headers, "svix-id") is not None
        prefix = "svix-" if svix else "webhook-"
        message_id = _required_header(headers, prefix + "id")
        timestamp = _required_header(headers, prefix + "timestamp")
        signatures = _required_header(headers, prefix + "signature")
        _check_window(_unix_seconds(timestamp), now, self.tolerance)
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = _b64(hmac.new(self.key(), signed, hashlib.sha256).digest())
        for candidate in signatures.split():
            version, _, signature = candidate.partition(",")
            if version == "v1" and _same(signature, expected):
                return
        raise VerificationFailed("no matching v1 signature")


# Where each scheme's request carries the vendor's message id, the same on every retry of
# one message: the default event id of its sources (a replay is then stored once).
MESSAGE_IDS: Mapping[str, tuple[FieldSource, ...]] = {
    "standard_webhooks": (FieldSource(header="webhook-id"), FieldSource(header="svix-id")),
    "stripe": (FieldSource(path="id"),),  # the event object's evt_... id
    "shopify": (
        FieldSource(header="X-Shopify-Webhook-Id"),
        FieldSource(header="X-Shopify-Event-Id"),
    ),
    "hubspot_v3": (FieldSource(path="eventId"),),  # per item, with "items": "$"
    "twilio": (FieldSource(header="I-Twilio-Idempotency-Token"),),
    "sendgrid": (FieldSource(path="sg_event_id"),),  # per item, with "items": "$"
}


class HubSpotV3(_Scheme):
    """``X-HubSpot-Signature-v3``: base64 HMAC-SHA256 of method + URI + body + timestamp (ms)."""

    scheme: Literal["hubspot_v3"] = "hubspot_v3"
    client_secret: Secret
    tolerance: Tolerance = 300

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        signature = _required_header(headers, "X-HubSpot-Signature-v3")
        timestamp = _required_header(headers, "X-HubSpot-Request-Timestamp")
        milliseconds = _unix_seconds(timestamp)
        _check_window(None if milliseconds is None else milliseconds / 1000, now, self.tolerance)
        # HubSpot signs the URI with these characters decoded; take the URL as given too.
        for uri in dict.fromkeys((_HUBSPOT_ENCODED.sub(_unquote, url), url)):
            signed = method.upper().encode() + uri.encode() + body + timestamp.encode()
            if _same(signature, _b64(_hmac(self.client_secret, signed))):
                return
        raise VerificationFailed("signature does not match")


class Stripe(_Scheme):
    """``Stripe-Signature: t=...,v1=...``: hex HMAC-SHA256 of ``t.body``; any v1 may match."""

    scheme: Literal["stripe"] = "stripe"
    secret: Secret = Field(description="the endpoint's whsec_... signing secret")
    tolerance: Tolerance = 300

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        timestamp: str | None = None
        signatures: list[str] = []
        for item in _required_header(headers, "Stripe-Signature").split(","):
            key, _, value = item.strip().partition("=")
            if key == "t":
                timestamp = value
            elif key == "v1":
                signatures.append(value)
        if timestamp is None or not signatures:
            raise VerificationFailed("Stripe-Signature header has no t or v1 element")
        _check_window(_unix_seconds(timestamp), now, self.tolerance)
        expected = _hmac(self.secret, f"{timestamp}.".encode() + body).hex()
        if not any(_same(signature.lower(), expected) for signature in signatures):
            raise VerificationFailed("no matching v1 signature")


class Shopify(_Scheme):
    """``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body with the app's secret."""

    scheme: Literal["shopify"] = "shopify"
    secret: Secret

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        signature = _required_header(headers, "X-Shopify-Hmac-Sha256")
        if not _same(signature, _b64(_hmac(self.secret, body))):
            raise VerificationFailed("signature does not match")


class Klaviyo(_Scheme):
    """``Klaviyo-Signature``: hex HMAC-SHA256 of the body followed by ``Klaviyo-Timestamp``."""

    scheme: Literal["klaviyo"] = "klaviyo"
    secret: Secret
    tolerance: Tolerance = 300

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        signature = _required_header(headers, "Klaviyo-Signature")
        timestamp = _required_header(headers, "Klaviyo-Timestamp")
        # The header's format isn't pinned down by Klaviyo's docs: accept any timestamp.
        sent_at = parse_timestamp(timestamp)
        _check_window(None if sent_at is None else sent_at.timestamp(), now, self.tolerance)
        expected = _hmac(self.secret, body + timestamp.encode()).hex()
        if not _same(signature.strip().lower(), expected):
            raise VerificationFailed("signature does not match")


class Twilio(_Scheme):
    """``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL followed by every form parameter
    (sorted by name, ``name + value``); a JSON body is instead hashed into the URL's
    ``bodySHA256`` parameter. ``X-Twilio-Webhooks-Signature-Settings`` may ask for SHA-256."""

    scheme: Literal["twilio"] = "twilio"
    secret: Secret = Field(description="the account's Auth Token (or the webhook SharedKey)")

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        signature = _required_header(headers, "X-Twilio-Signature")
        algorithm = "sha1"
        for part in (_header(headers, "X-Twilio-Webhooks-Signature-Settings") or "").split(","):
            name, _, value = part.partition("=")
            if name.strip() == "algorithm" and value.strip():
                algorithm = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}.get(
                    value.strip().upper(), ""
                )
        if not algorithm:
            raise VerificationFailed("unsupported signature algorithm")
        body_hash = _query_param(url, "bodySHA256")
        signed = ""
        if body_hash is not None:
            if not _same(body_hash.lower(), hashlib.sha256(body).hexdigest()):
                raise VerificationFailed("bodySHA256 does not match the body")
        else:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            for name in sorted({name for name, _ in pairs}):
                for value in sorted({value for key, value in pairs if key == name}):
                    signed += name + value
        # Twilio signs the URL with or without an explicit port, depending on the product.
        for candidate in dict.fromkeys((url, *_port_variants(url))):
            digest = _hmac(self.secret, (candidate + signed).encode(), algorithm)
            if _same(signature, _b64(digest)):
                return
        raise VerificationFailed("signature does not match")


class SendGrid(_Scheme):
    """SendGrid's signed Event Webhook: an ECDSA (P-256, SHA-256) signature of
    ``timestamp + body`` in ``X-Twilio-Email-Event-Webhook-Signature`` (base64 DER), checked
    with the public key SendGrid shows in its Mail Settings."""

    scheme: Literal["sendgrid"] = "sendgrid"
    public_key: str = Field(min_length=1, description="the verification key (base64 DER)")
    tolerance: Tolerance = 300

    @model_validator(mode="after")
    def _loadable(self) -> Self:
        self.key()
        return self

    def key(self) -> ec.EllipticCurvePublicKey:
        try:
            key = load_der_public_key(base64.b64decode(self.public_key.strip(), validate=True))
        except (binascii.Error, ValueError, UnsupportedAlgorithm) as exc:
            raise ValueError("public_key must be the base64 DER key SendGrid shows") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("public_key must be an elliptic curve key")
        return key

    def verify(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> None:
        signature = _required_header(headers, "X-Twilio-Email-Event-Webhook-Signature")
        timestamp = _required_header(headers, "X-Twilio-Email-Event-Webhook-Timestamp")
        _check_window(_unix_seconds(timestamp), now, self.tolerance)
        try:
            decoded = base64.b64decode(signature.strip(), validate=True)
            self.key().verify(decoded, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, InvalidSignature) as exc:
            raise VerificationFailed("signature does not match") from exc


SCHEMES: Mapping[str, type[_Scheme]] = {
    scheme.model_fields["scheme"].default: scheme
    for scheme in (
        NoVerification,
        SharedSecret,
        BasicAuth,
        HmacSignature,
        StandardWebhooks,
        HubSpotV3,
        Stripe,
        Shopify,
        Klaviyo,
        Twilio,
        SendGrid,
    )
}


def build_verifier(config: Mapping[str, Any]) -> Verifier:
    """A verifier from ``{"scheme": ..., **options}``; raises :class:`ConfigError`."""
    scheme = config.get("scheme") if isinstance(config, Mapping) else None
    model = SCHEMES.get(scheme) if isinstance(scheme, str) else None
    if model is None:
        raise ConfigError(
            "invalid verification config",
            details=[{"field": "scheme", "message": f"must be one of {', '.join(SCHEMES)}"}],
        )
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        raise ConfigError.from_validation_error("verification config", exc) from exc


_HUBSPOT_ENCODED = re.compile("%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


def _unquote(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = headers.get(lowered)
        if value is None:
            value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _required_header(headers: Mapping[str, str], name: str) -> str:
    value = _header(headers, name)
    if not value:
        raise VerificationFailed(f"missing {name} header")
    return value


def _query_param(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get(name)
    return values[0] if values else None


def _unix_seconds(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def _check_window(sent_at: float | None, now: datetime, tolerance: int) -> None:
    if sent_at is None:
        raise VerificationFailed("timestamp is not a valid time")
    if abs(now.timestamp() - sent_at) > tolerance:
        raise VerificationFailed("timestamp is outside the tolerance window")


def _hmac(secret: SecretStr, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret.get_secret_value().encode(), message, algorithm).digest()


def _port_variants(url: str) -> tuple[str, ...]:
    """``url`` without its port, or with the scheme's default port when it has none."""
    parts = urlsplit(url)
    if parts.port is not None:
        return (parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl(),)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or not parts.netloc:
        return ()
    return (parts._replace(netloc=f"{parts.netloc}:{default}").geturl(),)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
