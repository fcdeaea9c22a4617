"""Inbound presets end to end (issue 19): a source made from each preset accepts a request
signed the way the vendor signs it (with the vendor's own library where one exists), maps
it (event type, dedupe id, identity), refuses a tampered one and, where the vendor
timestamps, a stale one with 401. Real HTTP on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import pytest
import stripe
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hubspot.utils.signature import Signature as HubSpotSignature
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from renkei.events.preset_catalog import PRESETS
from renkei.events.sources import SECRET_FIELDS
from renkei.hub import Hub
from tests.events.conftest import assert_error

SECRET = "preset-secret-0123456789abcdef"
WHSEC = "whsec_" + base64.b64encode(b"s" * 32).decode()
STALE = 600  # seconds: twice the vendors' usual 5-minute tolerance
_SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC_KEY = base64.b64encode(
    _SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()

Signed = tuple[dict[str, str], str]
"""(headers, query string)"""


@dataclass(frozen=True)
class Request:
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    preset: str
    request: Request
    sign: Callable[[str, bytes, int, str], Signed]
    """(url, body, unix time, secret) -> what the vendor adds to the request"""
    expected: list[dict[str, Any]]
    """Each event's id (None: generated), type and identity fields."""
    settings: dict[str, str] = field(default_factory=dict)
    timestamped: bool = False

    @property
    def id(self) -> str:
        return self.preset


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _mac(secret: str, message: bytes, digest: str = "sha256") -> bytes:
    return hmac.new(secret.encode(), message, digest).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _bearer(url: str, body: bytes, now: int, secret: str) -> Signed:
    return {"Authorization": f"Bearer {secret}"}, ""


def _stripe(url: str, body: bytes, now: int, secret: str) -> Signed:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, now)
    return {"Stripe-Signature": header}, ""


def _twilio(url: str, body: bytes, now: int, secret: str) -> Signed:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = RequestValidator(secret).compute_signature(url, params)
    return {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": "idem-tw-1"}, ""


def _sendgrid(url: str, body: bytes, now: int, secret: str) -> Signed:
    signature = _SENDGRID_KEY.sign(str(now).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": _b64(signature),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(now),
    }, ""


def _hubspot(url: str, body: bytes, now: int, secret: str) -> Signed:
    milliseconds = str(now * 1000)
    signed = b"POST" + url.encode() + body + milliseconds.encode()
    return {
        "X-HubSpot-Signature-v3": _b64(_mac(secret, signed)),
        "X-HubSpot-Request-Timestamp": milliseconds,
    }, ""


def _klaviyo(url: str, body: bytes, now: int, secret: str) -> Signed:
    return {
        "Klaviyo-Signature": _mac(secret, body + str(now).encode()).hex(),
        "Klaviyo-Timestamp": str(now),
        "Klaviyo-Webhook-Id": "kwh_1",
    }, ""


CASES = [
    Case(
        "onesignal",
        Request(
            _json(
                {
                    "event": "message.push.clicked",
                    "id": "0b5f3c5e-6f1e-4f4e-9d2a-1c7e0f2c9a11",
                    "externalId": "user-42",
                    "timestamp": 1765000000,
                }
            ),
            "application/json",
        ),
        _bearer,
        [
            {
                "id": "0b5f3c5e-6f1e-4f4e-9d2a-1c7e0f2c9a11",
                "type": "onesignal.message.push.clicked",
                "user_id": "user-42",
            }
        ],
    ),
    Case(
        "mailchimp",
        Request(
            urlencode(
                {
                    "type": "unsubscribe",
                    "fired_at": "2026-03-26 21:40:57",
                    "data[action]": "unsub",
                    "data[reason]": "manual",
                    "data[id]": "8a25ff1d98",
                    "data[list_id]": "a6b5da1054",
                    "data[email]": "ada@example.com",
                    "data[merges][EMAIL]": "ada@example.com",
                }
            ).encode(),
            "application/x-www-form-urlencoded",
        ),
        lambda url, body, now, secret: ({}, urlencode({"key": secret})),
        [{"id": None, "type": "mailchimp.unsubscribe", "email": "ada@example.com"}],
    ),
    Case(
        "klaviyo",
        Request(
            _json(
                {
                    "data": [
                        {
                            "topic": "event:klaviyo.opened_email",
                            "external_id": "kev-1",
                            "payload": {"attributes": {"datetime": "2026-12-01T10:00:00Z"}},
                        },
                        {
                            "topic": "event:klaviyo.clicked_email",
                            "external_id": "kev-2",
                            "payload": {"attributes": {"datetime": "2026-12-01T10:01:00Z"}},
                        },
                    ],
                    "meta": {"klaviyo_webhook_id": "kwh_1", "timestamp": "2026-12-01T10:02:00Z"},
                }
            ),
            "application/json",
        ),
        _klaviyo,
        [
            {"id": "kev-1", "type": "event:klaviyo.opened_email"},
            {"id": "kev-2", "type": "event:klaviyo.clicked_email"},
        ],
        {"secret": SECRET},
        timestamped=True,
    ),
    Case(
        "hubspot",
        Request(
            _json(
                [
                    {
                        "eventId": 1001,
                        "subscriptionId": 7,
                        "portalId": 62515,
                        "occurredAt": 1765000000000,
                        "subscriptionType": "contact.creation",
                        "objectId": 123,
                    },
                    {
                        "eventId": 1002,
                        "subscriptionId": 8,
                        "portalId": 62515,
                        "occurredAt": 1765000001000,
                        "subscriptionType": "contact.propertyChange",
                        "objectId": 123,
                        "propertyName": "email",
                        "propertyValue": "ada@example.com",
                    },
                ]
            ),
            "application/json",
        ),
        _hubspot,
        [
            {"id": "1001", "type": "hubspot.contact.creation"},
            {"id": "1002", "type": "hubspot.contact.propertyChange"},
        ],
        {"client_secret": SECRET},
        timestamped=True,
    ),
    Case(
        "braze_currents",
        Request(
            _json(
                {
                    "events": [
                        {
                            "event_type": "users.messages.email.Open",
                            "id": "br-1",
                            "time": 1765000000,
                            "user": {"user_id": "b1", "external_user_id": "user-7"},
                            "properties": {"campaign_name": "welcome"},
                        },
                        {
                            "event_type": "users.behaviors.CustomEvent",
                            "id": "br-2",
                            "time": 1765000005,
                            "user": {"user_id": "b1", "external_user_id": "user-7"},
                            "properties": {"name": "study_mode_chosen"},
                        },
                    ]
                }
            ),
            "application/json",
        ),
        _bearer,
        [
            {"id": "br-1", "type": "braze.users.messages.email.Open", "user_id": "user-7"},
            {"id": "br-2", "type": "braze.users.behaviors.CustomEvent", "user_id": "user-7"},
        ],
    ),
    Case(
        "marketo",
        Request(
            _json({"event": "lead_changed", "leadId": "318581", "email": "lead@example.com"}),
            "application/json",
        ),
        lambda url, body, now, secret: ({"X-Renkei-Token": secret}, ""),
        [{"id": None, "type": "marketo.lead_changed", "email": "lead@example.com"}],
    ),
    Case(
        "sendgrid",
        Request(
            _json(
                [
                    {
                        "email": "ada@example.com",
                        "timestamp": 1765000000,
                        "event": "delivered",
                        "sg_event_id": "sg-ev-1",
                        "sg_message_id": "m1.filter0001",
                    },
                    {
                        "email": "ada@example.com",
                        "timestamp": 1765000100,
                        "event": "unsubscribe",
                        "sg_event_id": "sg-ev-2",
                        "sg_message_id": "m1.filter0001",
                    },
                ]
            ),
            "application/json",
        ),
        _sendgrid,
        [
            {"id": "sg-ev-1", "type": "sendgrid.delivered", "email": "ada@example.com"},
            {"id": "sg-ev-2", "type": "sendgrid.unsubscribe", "email": "ada@example.com"},
        ],
        {"public_key": SENDGRID_PUBLIC_KEY},
        timestamped=True,
    ),
    Case(
        "stripe",
        Request(
            _json(
                {
                    "id": "evt_1QpreSet",
                    "object": "event",
                    "type": "customer.created",
                    "created": 1765000000,
                    "data": {"object": {"id": "cus_1", "email": "pay@example.com"}},
                }
            ),
            "application/json",
        ),
        _stripe,
        [{"id": "evt_1QpreSet", "type": "stripe.customer.created", "email": "pay@example.com"}],
        {"secret": WHSEC},
        timestamped=True,
    ),
    Case(
        "shopify",
        Request(
            _json({"id": 820982911946154508, "email": "jon@example.com", "total_price": "9.99"}),
            "application/json",
            {
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                "X-Shopify-Triggered-At": "2026-12-01T10:00:00.000Z",
            },
        ),
        lambda url, body, now, secret: ({"X-Shopify-Hmac-Sha256": _b64(_mac(secret, body))}, ""),
        [
            {
                "id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                "type": "shopify.orders/create",
                "email": "jon@example.com",
            }
        ],
        {"secret": SECRET},
    ),
    Case(
        "twilio",
        Request(
            urlencode(
                {
                    "MessageSid": "SM0123456789abcdef0123456789abcdef",
                    "AccountSid": "AC0123456789abcdef0123456789abcdef",
                    "From": "+15551234567",
                    "To": "+15557654321",
                    "Body": "STOP please",
                    "SmsStatus": "received",
                }
            ).encode(),
            "application/x-www-form-urlencoded",
        ),
        _twilio,
        [{"id": "idem-tw-1", "type": "twilio.sms.received"}],
        {"secret": SECRET},
    ),
    Case(
        "segment",
        Request(
            _json(
                {
                    "type": "identify",
                    "messageId": "seg-msg-1",
                    "userId": "user-9",
                    "anonymousId": "anon-9",
                    "traits": {"email": "seg@example.com"},
                    "timestamp": "2026-12-01T10:00:00Z",
                }
            ),
            "application/json",
        ),
        lambda url, body, now, secret: ({"X-Signature": _mac(secret, body, "sha1").hex()}, ""),
        [
            {
                "id": "seg-msg-1",
                "type": "segment.identify",
                "user_id": "user-9",
                "anonymous_id": "anon-9",
                "email": "seg@example.com",
            }
        ],
        {"secret": SECRET},
    ),
]


def test_every_preset_has_a_case() -> None:
    assert sorted(case.preset for case in CASES) == sorted(PRESETS)


def test_a_setting_said_secret_is_stored_encrypted() -> None:
    """A preset's ``secret`` flag tells the user what the source keeps encrypted: it must be
    what the sources service does (SECRET_FIELDS go encrypted, the rest stays readable)."""
    for preset in PRESETS.values():
        for setting in preset.settings:
            assert setting.secret == (setting.name in SECRET_FIELDS), (preset.name, setting)


def _send(
    url: str, case: Case, secret: str, *, body: bytes | None = None, age: int = 0
) -> httpx.Response:
    signed_body = case.request.body
    headers, query_string = case.sign(url, signed_body, int(time.time()) - age, secret)
    target = f"{url}?{query_string}" if query_string else url
    return httpx.post(
        target,
        content=signed_body if body is None else body,
        headers={"Content-Type": case.request.content_type, **case.request.headers, **headers},
        timeout=30,
    )


def _tampered(body: bytes) -> bytes:
    assert b"1" in body
    return body.replace(b"1", b"2", 1)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_preset_source_accepts_what_the_vendor_signs(
    served: tuple[str, Hub], admin: httpx.Client, case: Case
) -> None:
    created = admin.post(
        "/api/v1/sources",
        json={"kind": "webhook", "name": f"{case.preset}-hook", "preset": case.preset,
              "settings": case.settings},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    source = created.json()
    preset = PRESETS[case.preset]
    assert source["verification"]["scheme"] == preset.verification["scheme"]
    assert source["mapping"] == dict(preset.mapping)
    secret = next(iter(case.settings.values()), None) or source["secret"]
    if case.preset == "sendgrid":
        assert "secret" not in source  # a public key: nothing secret to show
    url = source["url"]

    accepted = _send(url, case, secret)
    assert accepted.status_code == 200, accepted.text
    event_ids = accepted.json()["event_ids"]
    assert len(event_ids) == len(case.expected)
    for event_id, expected in zip(event_ids, case.expected, strict=True):
        if expected["id"] is not None:
            assert event_id == expected["id"]
        event = admin.get(f"/api/v1/events/{event_id}").json()
        assert event["type"] == expected["type"], event
        assert event["source_id"] == source["id"]
        for identity in ("user_id", "anonymous_id", "email"):
            assert event.get(identity) == expected.get(identity), (identity, event)

    # The vendor's retry of the same request is stored once (its ids are stable).
    if all(expected["id"] is not None for expected in case.expected):
        again = _send(url, case, secret)
        assert again.status_code == 200, again.text
        assert again.json()["event_ids"] == event_ids
        stored = admin.get("/api/v1/events", params={"source_id": source["id"]}).json()
        assert len(stored["data"]) == len(case.expected)

    # The preset's event types are registered, with their schemas.
    for kind in preset.event_types[:2]:
        registered = admin.get(f"/api/v1/event-types/{kind.name}")
        assert registered.status_code == 200, registered.text
        assert registered.json()["schema"] == dict(kind.schema)

    # The stored raw request keeps no secret (headers and query parameters redacted).
    requests = admin.get(f"/api/v1/sources/{source['id']}/requests").json()["data"]
    assert requests and secret not in str(requests)

    tampered = _send(url, case, secret, body=_tampered(case.request.body))
    if case.preset in ("onesignal", "braze_currents", "marketo", "mailchimp"):
        # A shared token signs nothing: what is refused is a request without the token.
        assert tampered.status_code == 200, tampered.text
        assert_error(_send(url, case, "wrong-token"), 401, "verification_failed")
    else:
        assert_error(tampered, 401, "verification_failed")
    if case.timestamped:
        stale = _send(url, case, secret, age=STALE)
        assert_error(stale, 401, "verification_failed")
        assert "tolerance" in stale.json()["error"]["message"]
    unsigned = httpx.post(
        url, content=case.request.body, headers={"Content-Type": case.request.content_type}
    )
    assert_error(unsigned, 401, "verification_failed")


def test_vendor_libraries_agree_with_the_schemes() -> None:
    """The signatures the tests make are the ones the vendors' own libraries check."""
    now = int(time.time())
    body = CASES[[case.preset for case in CASES].index("stripe")].request.body
    header = _stripe("", body, now, WHSEC)[0]["Stripe-Signature"]
    event = stripe.Webhook.construct_event(body, header, WHSEC)
    assert event["id"] == "evt_1QpreSet"

    sendgrid_case = CASES[[case.preset for case in CASES].index("sendgrid")]
    headers = _sendgrid("", sendgrid_case.request.body, now, "")[0]
    assert EventWebhook(SENDGRID_PUBLIC_KEY).verify_signature(
        sendgrid_case.request.body.decode(),
        headers["X-Twilio-Email-Event-Webhook-Signature"],
        headers["X-Twilio-Email-Event-Webhook-Timestamp"],
    )

    twilio_case = CASES[[case.preset for case in CASES].index("twilio")]
    url = "https://hub.example.com/hooks/src_1"
    signature = _twilio(url, twilio_case.request.body, now, SECRET)[0]["X-Twilio-Signature"]
    params = dict(parse_qsl(twilio_case.request.body.decode()))
    assert RequestValidator(SECRET).validate(url, params, signature)

    hubspot_case = CASES[[case.preset for case in CASES].index("hubspot")]
    hubspot = _hubspot(url, hubspot_case.request.body, now, SECRET)[0]
    assert HubSpotSignature.is_valid(
        signature=hubspot["X-HubSpot-Signature-v3"],
        client_secret=SECRET,
        request_body=hubspot_case.request.body.decode(),
        http_uri=url,
        signature_version="v3",
        timestamp=hubspot["X-HubSpot-Request-Timestamp"],
    )


def test_twilio_json_body_is_checked_by_its_hash(
    served: tuple[str, Hub], admin: httpx.Client
) -> None:
    """Twilio signs a JSON body's SHA-256 in the URL (bodySHA256) and the URL alone."""
    created = admin.post(
        "/api/v1/sources",
        json={"kind": "webhook", "name": "tw", "preset": "twilio", "settings": {"secret": SECRET}},
    ).json()
    body = _json({"SmsStatus": "delivered", "MessageSid": "SM1"})
    url = f"{created['url']}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = RequestValidator(SECRET).compute_signature(url, {})
    assert RequestValidator(SECRET).validate(url, body.decode(), signature)
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": "idem-json-1",
    }
    accepted = httpx.post(url, content=body, headers=headers, timeout=30)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["event_ids"] == ["idem-json-1"]
    assert admin.get("/api/v1/events/idem-json-1").json()["type"] == "twilio.sms.delivered"
    other = body.replace(b"delivered", b"failed")
    assert_error(httpx.post(url, content=other, headers=headers), 401, "verification_failed")


def test_mailchimp_url_validation_get_answers_200(
    served: tuple[str, Hub], admin: httpx.Client
) -> None:
    created = admin.post(
        "/api/v1/sources", json={"kind": "webhook", "name": "mc", "preset": "mailchimp"}
    ).json()
    answer = httpx.get(created["url"], params={"key": created["secret"]})
    assert answer.status_code == 200
    assert httpx.get(f"{served[0]}/hooks/src_missing").status_code == 404
    assert admin.get(f"/api/v1/sources/{created['id']}/requests").json()["data"] == []

    # A second source from the same preset: its event types exist already, and stay.
    second = admin.post(
        "/api/v1/sources", json={"kind": "webhook", "name": "mc2", "preset": "mailchimp"}
    )
    assert second.status_code == 201, second.text
    audit = admin.get("/api/v1/audit", params={"action": "source.created"}).json()["data"]
    details = {entry["target_id"]: entry["details"] for entry in audit}
    assert details[created["id"]]["preset"] == "mailchimp"
    assert "mailchimp.unsubscribe" in details[created["id"]]["event_types"]
    assert details[second.json()["id"]]["event_types"] == []
    assert created["secret"] not in str(audit)


def test_a_preset_mapping_can_be_edited(served: tuple[str, Hub], admin: httpx.Client) -> None:
    created = admin.post(
        "/api/v1/sources",
        json={
            "kind": "webhook",
            "name": "seg",
            "preset": "segment",
            "settings": {"secret": SECRET},
        },
    ).json()
    mapping = {**created["mapping"], "type_prefix": ""}
    patched = admin.patch(f"/api/v1/sources/{created['id']}", json={"mapping": mapping})
    assert patched.status_code == 200, patched.text
    case = CASES[[case.preset for case in CASES].index("segment")]
    accepted = _send(created["url"], case, SECRET)
    assert accepted.status_code == 200, accepted.text
    assert admin.get("/api/v1/events/seg-msg-1").json()["type"] == "identify"
    # The verification the preset set is still there, secret and all.
    shown = admin.get(f"/api/v1/sources/{created['id']}").json()["verification"]
    assert shown == {**PRESETS["segment"].verification, "has_secret": True}


def test_source_presets_are_listed_with_what_they_need(admin: httpx.Client) -> None:
    listed = admin.get("/api/v1/source-presets")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [preset["name"] for preset in body["data"]] == sorted(PRESETS)
    assert body["next_cursor"] is None
    stripe_preset = next(preset for preset in body["data"] if preset["name"] == "stripe")
    assert stripe_preset["scheme"] == "stripe"
    assert stripe_preset["settings"] == [
        {"name": "secret", "description": "the endpoint's signing secret (whsec_...)",
         "required": True, "secret": True}
    ]  # fmt: skip
    customer = next(
        kind for kind in stripe_preset["event_types"] if kind["name"] == "stripe.customer.created"
    )
    assert customer["schema"]["required"] == ["data", "id", "type"]
    one = admin.get("/api/v1/source-presets/onesignal").json()
    assert one["settings"][0]["required"] is False  # Renkei generates the token
    assert "externalId" in one["body_template"]
    missing = admin.get("/api/v1/source-presets/nope")
    assert_error(missing, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        ({"preset": "paypal"}, "invalid_preset", "onesignal"),
        ({"preset": "stripe"}, "invalid_preset", "secret"),
        ({"preset": "hubspot", "settings": {"secret": "x"}}, "invalid_preset", "client_secret"),
        ({"preset": "stripe", "settings": {"secret": 5}}, "invalid_preset", "secret"),
        ({"preset": "sendgrid", "settings": {"public_key": "bm90IGEga2V5"}},
         "invalid_source", "public_key"),
        ({"preset": "stripe", "settings": {"secret": WHSEC},
          "verification": {"scheme": "none"}}, "invalid_preset", "verification"),
        ({"settings": {"secret": "x"}}, "invalid_preset", "preset"),
    ],
)  # fmt: skip
def test_bad_preset_input_is_a_422_and_creates_nothing(
    admin: httpx.Client, body: dict[str, Any], code: str, names: str
) -> None:
    response = admin.post("/api/v1/sources", json={"kind": "webhook", "name": "bad", **body})
    error = assert_error(response, 422, code)
    assert names in str(error), error
    assert admin.get("/api/v1/sources").json()["data"] == []
    assert [t for t in admin.get("/api/v1/event-types").json()["data"] if not t["system"]] == []


def test_unknown_preset_lists_the_names(admin: httpx.Client) -> None:
    response = admin.post(
        "/api/v1/sources", json={"kind": "webhook", "name": "x", "preset": "paypal"}
    )
    error = assert_error(response, 422, "invalid_preset")
    assert error["details"]["presets"] == sorted(PRESETS)
    tracking = admin.post(
        "/api/v1/sources", json={"kind": "tracking", "name": "x", "preset": "stripe"}
    )
    assert_error(tracking, 422, "invalid_preset")
