"""Each scheme against requests signed the way the vendor documents it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from standardwebhooks import Webhook

from renkei.events import ConfigError, VerificationFailed, build_verifier
from renkei.events.verification import SCHEMES

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
URL = "https://hub.example.com/hooks/src_1"
BODY = b'{"id":"evt_1","type":"contact.created","data":{"email":"ada@example.com"}}'
TAMPERED = BODY.replace(b"ada", b"eve")
STALE = NOW + timedelta(minutes=6)  # now, as seen by a replayed request six minutes later
EARLY = NOW - timedelta(minutes=6)  # a request stamped six minutes in the future


def hmac_sha256(key: str | bytes, message: bytes) -> bytes:
    return hmac.new(key.encode() if isinstance(key, str) else key, message, hashlib.sha256).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def verify(
    config: Mapping[str, Any],
    headers: Mapping[str, str],
    body: bytes = BODY,
    *,
    url: str = URL,
    now: datetime = NOW,
    method: str = "POST",
) -> None:
    build_verifier(config).verify(method, url, headers, body, now)


def refused(
    config: Mapping[str, Any], headers: Mapping[str, str], body: bytes = BODY, **kwargs: Any
) -> str:
    with pytest.raises(VerificationFailed) as caught:
        verify(config, headers, body, **kwargs)
    error = caught.value
    assert (error.status, error.code) == (401, "verification_failed")
    secrets = [config.get(key) for key in ("secret", "password", "client_secret")]
    for value in (*secrets, *headers.values()):
        if isinstance(value, str) and len(value) > 8:
            assert value not in error.reason  # neither the secret nor any signature
    return error.reason


# --- none ------------------------------------------------------------------------------


def test_none_accepts_anything() -> None:
    verify({"scheme": "none"}, {}, b"anything")


# --- shared secret ---------------------------------------------------------------------

TOKEN = "s3cr3t-token-value"


def test_shared_secret_in_a_header() -> None:
    config = {"scheme": "shared_secret", "secret": TOKEN, "header": "X-Renkei-Token"}
    verify(config, {"x-renkei-token": TOKEN})  # header names are case-insensitive
    assert "missing" in refused(config, {})
    assert "does not match" in refused(config, {"X-Renkei-Token": TOKEN + "x"})
    # the token doesn't depend on the body: a tampered body passes, as with any unsigned vendor
    verify(config, {"X-Renkei-Token": TOKEN}, TAMPERED)


def test_shared_secret_with_a_prefix() -> None:
    config = {
        "scheme": "shared_secret",
        "secret": TOKEN,
        "header": "Authorization",
        "prefix": "Bearer ",
    }
    verify(config, {"Authorization": f"Bearer {TOKEN}"})
    verify(config, {"Authorization": f"bearer {TOKEN}"})
    refused(config, {"Authorization": TOKEN})


def test_shared_secret_in_the_query_string() -> None:
    config = {"scheme": "shared_secret", "secret": TOKEN, "query": "token"}
    verify(config, {}, url=f"{URL}?source=marketo&token={TOKEN}")
    assert "token query parameter" in refused(config, {}, url=f"{URL}?source=marketo")
    refused(config, {}, url=f"{URL}?token=wrong")


def test_non_ascii_header_values_are_refused_not_crashing() -> None:
    config = {"scheme": "shared_secret", "secret": TOKEN, "header": "X-Token"}
    refused(config, {"X-Token": "tökén\udcff"})


# --- basic auth ------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64(f"{user}:{password}".encode())}


def test_basic_auth() -> None:
    config = {"scheme": "basic_auth", "username": "marketo", "password": "pa:ss-word-1"}
    verify(config, basic("marketo", "pa:ss-word-1"))
    refused(config, basic("marketo", "nope"))
    refused(config, basic("other", "pa:ss-word-1"))
    refused(config, {"Authorization": "Bearer abc"})
    refused(config, {"Authorization": "Basic !!!"})
    refused(config, {})


# --- generic HMAC ----------------------------------------------------------------------

HMAC_SECRET = "generic-hmac-secret"


def test_hmac_hex_of_the_body_with_a_prefix() -> None:
    # GitHub/Meta style: X-Hub-Signature-256: sha256=<hex>
    config = {
        "scheme": "hmac",
        "secret": HMAC_SECRET,
        "header": "X-Hub-Signature-256",
        "prefix": "sha256=",
    }
    signature = "sha256=" + hmac_sha256(HMAC_SECRET, BODY).hex()
    verify(config, {"X-Hub-Signature-256": signature})
    verify(config, {"X-Hub-Signature-256": signature.upper()})
    refused(config, {"X-Hub-Signature-256": signature}, TAMPERED)
    refused(config, {"X-Hub-Signature-256": hmac_sha256(HMAC_SECRET, BODY).hex()})


def test_hmac_base64_over_timestamp_and_body() -> None:
    config = {
        "scheme": "hmac",
        "secret": HMAC_SECRET,
        "header": "X-Signature",
        "encoding": "base64",
        "timestamp_header": "X-Timestamp",
        "separator": ":",
    }
    headers = {
        "X-Signature": b64(hmac_sha256(HMAC_SECRET, f"{TS}:".encode() + BODY)),
        "X-Timestamp": str(TS),
    }
    verify(config, headers)
    refused(config, headers, TAMPERED)
    assert "tolerance" in refused(config, headers, now=STALE)
    assert "tolerance" in refused(config, headers, now=EARLY)
    refused(config, {**headers, "X-Timestamp": str(TS + 1)})
    assert "valid time" in refused(config, {**headers, "X-Timestamp": "nan"})
    verify({**config, "tolerance": 600}, headers, now=STALE)


# --- Standard Webhooks / Svix ----------------------------------------------------------

WHSEC = "whsec_" + b64(b"standard-webhooks-test-key-32byt")


def standard_headers(
    secret: str = WHSEC, prefix: str = "webhook-", body: bytes = BODY
) -> dict[str, str]:
    signature = Webhook(secret).sign("msg_2Lh9KsTq", NOW, body.decode())
    return {
        f"{prefix}id": "msg_2Lh9KsTq",
        f"{prefix}timestamp": str(TS),
        f"{prefix}signature": signature,
    }


def test_standard_webhooks() -> None:
    config = {"scheme": "standard_webhooks", "secret": WHSEC}
    headers = standard_headers()
    verify(config, headers)
    refused(config, headers, TAMPERED)
    refused(config, headers, now=STALE)
    refused(config, headers, now=EARLY)
    refused(config, {**headers, "webhook-id": "msg_other"})
    assert "missing webhook-timestamp" in refused(config, {"webhook-id": "msg_2Lh9KsTq"})
    assert "missing webhook-id" in refused(config, {})


def test_svix_headers() -> None:
    config = {"scheme": "standard_webhooks", "secret": WHSEC}
    verify(config, standard_headers(prefix="svix-"))
    refused(config, standard_headers(prefix="svix-"), TAMPERED)


def test_standard_webhooks_several_signatures_during_a_rotation() -> None:
    config = {"scheme": "standard_webhooks", "secret": WHSEC}
    old = standard_headers(secret="whsec_" + b64(b"the-old-key-that-was-rotated-out"))
    headers = standard_headers()
    rotated = {
        **headers,
        "webhook-signature": f"{old['webhook-signature']} v2,abc {headers['webhook-signature']}",
    }
    verify(config, rotated)
    refused(config, {**headers, "webhook-signature": old["webhook-signature"]})


def test_standard_webhooks_secret_without_prefix_or_padding() -> None:
    raw = b64(b"standard-webhooks-test-key-32byt").rstrip("=")
    verify({"scheme": "standard_webhooks", "secret": raw}, standard_headers())


# --- HubSpot v3 ------------------------------------------------------------------------

HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


def hubspot_headers(uri: str, body: bytes = BODY, method: str = "POST") -> dict[str, str]:
    # HubSpot: base64(HMAC-SHA256(client secret, method + uri + body + timestamp)), ms timestamp
    timestamp = str(TS * 1000)
    source = f"{method}{uri}{body.decode()}{timestamp}".encode()
    return {
        "X-HubSpot-Signature-v3": b64(hmac_sha256(HUBSPOT_SECRET, source)),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def test_hubspot_v3() -> None:
    config = {"scheme": "hubspot_v3", "client_secret": HUBSPOT_SECRET}
    headers = hubspot_headers(URL)
    verify(config, headers)
    refused(config, headers, TAMPERED)
    refused(config, headers, now=STALE)
    refused(config, headers, now=EARLY)
    refused(config, headers, url=URL + "?x=1")
    refused(config, headers, method="PUT")


def test_hubspot_v3_signs_the_uri_with_listed_characters_decoded() -> None:
    config = {"scheme": "hubspot_v3", "client_secret": HUBSPOT_SECRET}
    sent = f"{URL}?portal=1&email=ada%40example.com&next=%2Fhome"
    verify(config, hubspot_headers(f"{URL}?portal=1&email=ada@example.com&next=/home"), url=sent)


def test_hubspot_v3_get_without_body() -> None:
    config = {"scheme": "hubspot_v3", "client_secret": HUBSPOT_SECRET}
    verify(config, hubspot_headers(URL, b"", "GET"), b"", method="get")


# --- Stripe ----------------------------------------------------------------------------

STRIPE_SECRET = "whsec_test_stripe_endpoint_secret"


def stripe_signature(secret: str = STRIPE_SECRET, timestamp: int = TS) -> str:
    # Stripe: hex HMAC-SHA256 of "{t}.{payload}" with the endpoint secret
    return hmac_sha256(secret, f"{timestamp}.".encode() + BODY).hex()


def test_stripe() -> None:
    config = {"scheme": "stripe", "secret": STRIPE_SECRET}
    header = {"Stripe-Signature": f"t={TS},v1={stripe_signature()},v0=ignored"}
    verify(config, header)
    refused(config, header, TAMPERED)
    refused(config, header, now=STALE)
    refused(config, header, now=EARLY)


def test_stripe_any_of_several_v1_signatures() -> None:
    config = {"scheme": "stripe", "secret": STRIPE_SECRET}
    other = stripe_signature("whsec_rolled_secret")
    verify(config, {"Stripe-Signature": f"t={TS},v1={other},v1={stripe_signature()}"})
    refused(config, {"Stripe-Signature": f"t={TS},v1={other}"})


@pytest.mark.parametrize("header", ["", "garbage", f"t={TS}", f"v1={'0' * 64}", "t=abc,v1=00"])
def test_stripe_malformed_headers(header: str) -> None:
    refused({"scheme": "stripe", "secret": STRIPE_SECRET}, {"Stripe-Signature": header})


# --- Shopify ---------------------------------------------------------------------------

SHOPIFY_SECRET = "shpss_0123456789abcdef"


def test_shopify() -> None:
    config = {"scheme": "shopify", "secret": SHOPIFY_SECRET}
    headers = {"X-Shopify-Hmac-Sha256": b64(hmac_sha256(SHOPIFY_SECRET, BODY))}
    verify(config, headers)
    refused(config, headers, TAMPERED)
    refused(config, {})


# --- Klaviyo ---------------------------------------------------------------------------

KLAVIYO_SECRET = "klaviyo-webhook-secret-0001"


@pytest.mark.parametrize(
    "timestamp",
    [NOW.isoformat(), format_datetime(NOW, usegmt=True), str(TS)],
    ids=["iso", "http-date", "unix"],
)
def test_klaviyo(timestamp: str) -> None:
    # Klaviyo: hex HMAC-SHA256 of the raw body followed by the Klaviyo-Timestamp header
    config = {"scheme": "klaviyo", "secret": KLAVIYO_SECRET}
    headers = {
        "Klaviyo-Signature": hmac_sha256(KLAVIYO_SECRET, BODY + timestamp.encode()).hex(),
        "Klaviyo-Timestamp": timestamp,
        "Klaviyo-Webhook-Id": "01HWEBHOOK",
    }
    verify(config, headers)
    refused(config, headers, TAMPERED)
    refused(config, headers, now=STALE)
    refused(config, headers, now=EARLY)
    refused(config, {**headers, "Klaviyo-Timestamp": "not a time"})


# --- configs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "scheme"),
        ({"scheme": "nope"}, "scheme"),
        ({"scheme": 3}, "scheme"),
        ({"scheme": "stripe"}, "secret"),
        ({"scheme": "stripe", "secret": ""}, "secret"),
        ({"scheme": "stripe", "secret": 12345678901}, "secret"),
        ({"scheme": "stripe", "secret": "whsec_x", "tolerance": 0}, "tolerance"),
        ({"scheme": "stripe", "secret": "whsec_x", "tolerence": 60}, "tolerence"),
        ({"scheme": "shared_secret", "secret": "topsecret-1"}, ""),
        ({"scheme": "shared_secret", "secret": "t", "header": "A", "query": "b"}, ""),
        ({"scheme": "hmac", "secret": "topsecret-1"}, "header"),
        ({"scheme": "hmac", "secret": "s", "header": "X", "encoding": "b32"}, "encoding"),
        ({"scheme": "standard_webhooks", "secret": "whsec_not*base64!"}, ""),
        ({"scheme": "basic_auth", "password": "topsecret-1"}, "username"),
        ({"scheme": "hubspot_v3", "secret": "topsecret-1"}, "client_secret"),
        ({"scheme": "hmac", "secret": "s", "header": "X", "algorithm": "md5"}, "algorithm"),
        ({"scheme": "twilio"}, "secret"),
        ({"scheme": "sendgrid"}, "public_key"),
        ({"scheme": "sendgrid", "public_key": "bm90IGEga2V5"}, ""),
        ({"scheme": "sendgrid", "public_key": "not base64!"}, ""),
    ],
)
def test_invalid_configs(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_verifier(config)
    error = caught.value
    assert (error.status, error.code) == (422, "invalid_config")
    assert field in [detail["field"] for detail in error.details]
    assert "topsecret" not in repr(error.to_dict())
    assert "not*base64" not in repr(error.to_dict())


def test_every_scheme_is_buildable_and_hides_its_secret() -> None:
    configs: dict[str, dict[str, Any]] = {
        "none": {},
        "shared_secret": {"secret": "hidden-secret-1", "header": "X-Token"},
        "basic_auth": {"username": "u", "password": "hidden-secret-1"},
        "hmac": {"secret": "hidden-secret-1", "header": "X-Sig"},
        "standard_webhooks": {"secret": WHSEC},
        "hubspot_v3": {"client_secret": "hidden-secret-1"},
        "stripe": {"secret": "hidden-secret-1"},
        "shopify": {"secret": "hidden-secret-1"},
        "klaviyo": {"secret": "hidden-secret-1"},
        "twilio": {"secret": "hidden-secret-1"},
        "sendgrid": {"public_key": _sendgrid_public_key()},  # public: nothing to hide
    }
    assert set(configs) == set(SCHEMES)
    for scheme, options in configs.items():
        verifier = build_verifier({"scheme": scheme, **options})
        assert "hidden-secret" not in repr(verifier)
        assert WHSEC not in repr(verifier)


def _sendgrid_public_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def test_twilio_signature_with_and_without_port_and_sha256() -> None:
    """What Twilio's own RequestValidator accepts: the URL with or without its port, and
    HMAC-SHA256 when X-Twilio-Webhooks-Signature-Settings asks for it."""
    from twilio.request_validator import RequestValidator

    body = b"SmsStatus=received&Body=hi+there&From=%2B15551234567&Body=again"
    verifier = build_verifier({"scheme": "twilio", "secret": "auth-token-1"})
    url = "https://hub.example.com/hooks/src_1?x=1"
    validator = RequestValidator("auth-token-1")
    # Repeated parameters: each value once, sorted (a MultiDict-like getall).
    multi = _MultiDict({"SmsStatus": ["received"], "Body": ["hi there", "again"],
                        "From": ["+15551234567"]})  # fmt: skip
    signature = validator.compute_signature(url, multi)
    verifier.verify("POST", url, {"X-Twilio-Signature": signature}, body, NOW)
    with_port = validator.compute_signature("https://hub.example.com:443/hooks/src_1?x=1", multi)
    verifier.verify("POST", url, {"X-Twilio-Signature": with_port}, body, NOW)
    sha256 = validator.compute_signature(url, multi, "HMAC_SHA256")
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=wk_1,algorithm=HMAC_SHA256"}
    verifier.verify("POST", url, {"X-Twilio-Signature": sha256, **settings}, body, NOW)
    with pytest.raises(VerificationFailed):
        verifier.verify("POST", url, {"X-Twilio-Signature": sha256}, body, NOW)
    with pytest.raises(VerificationFailed):
        verifier.verify("POST", url, {"X-Twilio-Signature": signature}, body + b"&x=2", NOW)
    with pytest.raises(VerificationFailed):
        verifier.verify("POST", url + "2", {"X-Twilio-Signature": signature}, body, NOW)


class _MultiDict(dict[str, list[str]]):
    def getall(self, name: str) -> list[str]:
        return self[name]


def test_sendgrid_signature() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    verifier = build_verifier({"scheme": "sendgrid", "public_key": public})
    body = b'[{"event": "open", "sg_event_id": "e1"}]'
    stamp = str(int(NOW.timestamp()))
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256())))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": signature.decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }
    verifier.verify("POST", "https://x/h", headers, body, NOW)
    for bad_body, bad_headers, now in (
        (body + b" ", headers, NOW),
        (body, {**headers, "X-Twilio-Email-Event-Webhook-Signature": "bm90"}, NOW),
        (body, {**headers, "X-Twilio-Email-Event-Webhook-Signature": "!!"}, NOW),
        (body, headers, NOW + timedelta(seconds=301)),
    ):
        with pytest.raises(VerificationFailed):
            verifier.verify("POST", "https://x/h", bad_headers, bad_body, now)
