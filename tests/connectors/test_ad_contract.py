"""Every request the ad connectors send, over a run that uses every operation, checked
against the vendors' published references rather than against the sandboxes: request
schemas written here from Google's v22 protos (``ClickConversion``, ``UserIdentifier``,
``OfflineUserDataJobOperation``: field names in the REST mapping's lowerCamelCase), Meta's
server-event parameters and LinkedIn's ``conversionEvents`` schema. No unknown field, the
documented formats, the documented headers."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from renkei.connectors.google_ads import GoogleAdsConnector
from renkei.connectors.linkedin_capi import LinkedInConversionsConnector
from renkei.connectors.meta_capi import MetaConversionsConnector
from renkei.sandbox._common import Call
from renkei.sandbox.google_ads import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_DEVELOPER_TOKEN,
    DEFAULT_REFRESH_TOKEN,
    GoogleAdsSandbox,
    GoogleAdsSandboxConfig,
)
from renkei.sandbox.linkedin_capi import DEFAULT_ACCESS_TOKEN as LINKEDIN_TOKEN
from renkei.sandbox.linkedin_capi import (
    DEFAULT_AD_ACCOUNT,
    LinkedInCapiSandbox,
    LinkedInCapiSandboxConfig,
)
from renkei.sandbox.meta_capi import DEFAULT_ACCESS_TOKEN as META_TOKEN
from renkei.sandbox.meta_capi import DEFAULT_PIXEL_ID, MetaCapiSandbox, MetaCapiSandboxConfig

from .conftest import RecordingClock
from .vendor_support import open_ctx, serve

SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


# google/ads/googleads/v22/common/offline_user_data.proto: UserIdentifier is a oneof; for
# conversion uploads only hashed_email and hashed_phone_number, at most 5.
USER_IDENTIFIER = {
    "oneOf": [
        _object(
            {"hashedEmail": SHA256, "userIdentifierSource": {"type": "string"}}, ("hashedEmail",)
        ),
        _object(
            {"hashedPhoneNumber": SHA256, "userIdentifierSource": {"type": "string"}},
            ("hashedPhoneNumber",),
        ),
    ]
}
# common/consent.proto: Consent, ConsentStatusEnum.
_STATUS = {"enum": ["UNSPECIFIED", "UNKNOWN", "GRANTED", "DENIED"]}
CONSENT = _object({"adUserData": _STATUS, "adPersonalization": _STATUS})
# services/conversion_upload_service.proto: ClickConversion.
CLICK_CONVERSION = _object(
    {
        "gclid": {"type": "string"},
        "gbraid": {"type": "string"},
        "wbraid": {"type": "string"},
        "conversionAction": {"type": "string", "pattern": r"^customers/\d+/conversionActions/\d+$"},
        "conversionDateTime": {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$",
        },
        "conversionValue": {"type": "number"},
        "currencyCode": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "orderId": {"type": "string"},
        "externalAttributionData": {"type": "object"},
        "customVariables": {"type": "array"},
        "cartData": {"type": "object"},
        "userIdentifiers": {"type": "array", "items": USER_IDENTIFIER, "maxItems": 5},
        "conversionEnvironment": {"type": "string"},
        "consent": CONSENT,
        "customerType": {"type": "string"},
    },
    ("conversionAction", "conversionDateTime"),
)
UPLOAD_CLICK_CONVERSIONS = _object(
    {
        "conversions": {
            "type": "array",
            "items": CLICK_CONVERSION,
            "minItems": 1,
            "maxItems": 2000,
        },
        "partialFailure": {"const": True},  # "This should always be set to true."
        "validateOnly": {"type": "boolean"},
        "jobId": {"type": "integer"},
    },
    ("conversions", "partialFailure"),
)
# services/offline_user_data_job_service.proto and resources/offline_user_data_job.proto.
CREATE_JOB = _object(
    {
        "job": _object(
            {
                "type": {"const": "CUSTOMER_MATCH_USER_LIST"},
                "externalId": {"type": "integer"},
                "customerMatchUserListMetadata": _object(
                    {
                        "userList": {"type": "string", "pattern": r"^customers/\d+/userLists/\d+$"},
                        "consent": CONSENT,
                    },
                    ("userList",),
                ),
            },
            ("type", "customerMatchUserListMetadata"),
        ),
        "validateOnly": {"type": "boolean"},
        "enableMatchRateRangePreview": {"type": "boolean"},
    },
    ("job",),
)
USER_DATA = _object(
    {
        "userIdentifiers": {"type": "array", "items": USER_IDENTIFIER, "minItems": 1},
        "transactionAttribute": {"type": "object"},
        "userAttribute": {"type": "object"},
        "consent": {"type": "object"},
    },
    ("userIdentifiers",),
)
ADD_OPERATIONS = _object(
    {
        "enablePartialFailure": {"type": "boolean"},
        "enableWarnings": {"type": "boolean"},
        "operations": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10_000,
            "items": {
                "oneOf": [
                    _object({"create": USER_DATA}, ("create",)),
                    _object({"remove": USER_DATA}, ("remove",)),
                    _object({"removeAll": {"type": "boolean"}}, ("removeAll",)),
                ]
            },
        },
        "validateOnly": {"type": "boolean"},
    },
    ("operations",),
)
RUN_JOB = _object({"validateOnly": {"type": "boolean"}})

# developers.facebook.com/docs/marketing-api/conversions-api/parameters: server event.
_HASHED = {"oneOf": [SHA256, {"type": "array", "items": SHA256, "minItems": 1}]}
META_EVENT = _object(
    {
        "event_name": {"type": "string", "minLength": 1},
        "event_time": {"type": "integer"},
        "action_source": {
            "enum": [
                "email",
                "website",
                "app",
                "phone_call",
                "chat",
                "physical_store",
                "system_generated",
                "business_messaging",
                "other",
            ]
        },
        "event_id": {"type": "string"},
        "event_source_url": {"type": "string"},
        "opt_out": {"type": "boolean"},
        "data_processing_options": {"type": "array"},
        "data_processing_options_country": {"type": "integer"},
        "data_processing_options_state": {"type": "integer"},
        "referrer_url": {"type": "string"},
        "custom_data": {"type": "object"},
        "app_data": {"type": "object"},
        "user_data": {
            "type": "object",
            "minProperties": 1,
            "properties": {
                **{
                    k: _HASHED
                    for k in ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country")
                },
                "external_id": {"oneOf": [{"type": "string"}, {"type": "array"}]},
                "client_ip_address": {"type": "string"},
                "client_user_agent": {"type": "string"},
                "fbc": {"type": "string"},
                "fbp": {"type": "string"},
            },
            "additionalProperties": False,
        },
    },
    ("event_name", "event_time", "action_source", "user_data"),
)
META_EVENTS = _object(
    {
        "data": {"type": "array", "items": META_EVENT, "minItems": 1, "maxItems": 1000},
        "test_event_code": {"type": "string"},
    },
    ("data",),
)

# learn.microsoft.com/linkedin/marketing/integrations/ads-reporting/conversions-api
LINKEDIN_EVENT = _object(
    {
        "conversion": {"type": "string", "pattern": r"^urn:lla:llaPartnerConversion:\d+$"},
        "conversionHappenedAt": {"type": "integer", "minimum": 10**12},
        "conversionValue": _object(
            {
                "currencyCode": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "amount": {"type": "string"},
            },
            ("currencyCode", "amount"),
        ),
        "eventId": {"type": "string"},
        "user": _object(
            {
                "userIds": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            _object(
                                {"idType": {"const": "SHA256_EMAIL"}, "idValue": SHA256},
                                ("idType", "idValue"),
                            ),
                            _object(
                                {
                                    "idType": {
                                        "enum": [
                                            "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
                                            "ACXIOM_ID",
                                            "ORACLE_MOAT_ID",
                                        ]
                                    },
                                    "idValue": {"type": "string"},
                                },
                                ("idType", "idValue"),
                            ),
                        ]
                    },
                },
                "userInfo": _object(
                    {
                        k: {"type": "string"}
                        for k in ("firstName", "lastName", "companyName", "title", "countryCode")
                    }
                ),
                "lead": {"type": "string"},
                "externalIds": {"type": "array"},
            },
            ("userIds",),
        ),
    },
    ("conversion", "conversionHappenedAt", "user"),
)
LINKEDIN_BATCH = _object(
    {"elements": {"type": "array", "items": LINKEDIN_EVENT, "minItems": 1, "maxItems": 5000}},
    ("elements",),
)


def _check(schema: dict[str, Any], call: Call) -> None:
    body = json.loads(call.body)
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not errors, (
        f"{call.method} {call.path}: {errors[0].message} at {list(errors[0].absolute_path)}"
    )


async def test_google_ads_requests_follow_the_v22_protos(
    clock: RecordingClock, stack: contextlib.ExitStack
) -> None:
    sandbox = GoogleAdsSandbox(GoogleAdsSandboxConfig(), clock)
    url = serve(stack, sandbox)
    connector = GoogleAdsConnector()
    ctx = open_ctx(
        connector,
        clock,
        credentials={
            "developer_token": DEFAULT_DEVELOPER_TOKEN,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": DEFAULT_REFRESH_TOKEN,
        },
        config={
            "customer_id": "1234567890",
            "base_url": url,
            "token_url": f"{url}/token",
            "login_customer_id": "111-222-3333",
            "consent_ad_user_data": "GRANTED",
            "consent_ad_personalization": "DENIED",
        },
    )
    async with ctx:
        await connector.test_call(ctx)
        await connector.call(
            "upload_click_conversions",
            [
                {
                    "gclid": "Cj0KCQiAcontract",
                    "conversion_action": 1001,
                    "conversion_date_time": 1772463600,
                    "conversion_value": 10,
                    "currency_code": "jpy",
                    "order_id": "o-1",
                },
                {
                    "conversion_action": "customers/1234567890/conversionActions/1002",
                    "conversion_date_time": "2026-03-02T09:00:00-05:00",
                    "email": "A.B@googlemail.com",
                    "phone": "+81 90 1234 5678",
                },
            ],
            ctx,
        )
        member = {"user_list": 2001, "email": "x@example.com", "phone": "+442070313000"}
        await connector.call("add_customer_match_members", [member], ctx)
        await connector.call("remove_customer_match_members", [member], ctx)
    schemas = {
        ":uploadClickConversions": UPLOAD_CLICK_CONVERSIONS,
        "/offlineUserDataJobs:create": CREATE_JOB,
        ":addOperations": ADD_OPERATIONS,
        ":run": RUN_JOB,
    }
    seen: set[str] = set()
    for call in sandbox.requests:
        if call.path == "/token":
            assert call.headers["content-type"] == "application/x-www-form-urlencoded"
            continue
        assert re.match(r"^/v22/customers", call.path), call.path
        assert call.headers["authorization"].startswith("Bearer ya29.")
        assert call.headers["developer-token"] == DEFAULT_DEVELOPER_TOKEN
        assert call.headers["login-customer-id"] == "1112223333"
        if call.method == "GET":
            assert call.path == "/v22/customers:listAccessibleCustomers"
            continue
        [suffix] = [s for s in schemas if call.path.endswith(s)]
        _check(schemas[suffix], call)
        seen.add(suffix)
        body = json.loads(call.body)
        if suffix == ":uploadClickConversions":
            assert {c["consent"]["adUserData"] for c in body["conversions"]} == {"GRANTED"}
        if suffix == "/offlineUserDataJobs:create":
            consent = body["job"]["customerMatchUserListMetadata"]["consent"]
            assert consent == {"adUserData": "GRANTED", "adPersonalization": "DENIED"}
    assert seen == set(schemas)


async def test_meta_requests_follow_the_server_event_parameters(
    clock: RecordingClock, stack: contextlib.ExitStack
) -> None:
    sandbox = MetaCapiSandbox(MetaCapiSandboxConfig(), clock)
    url = serve(stack, sandbox)
    connector = MetaConversionsConnector()
    ctx = open_ctx(
        connector,
        clock,
        credentials={"access_token": META_TOKEN},
        config={"pixel_id": DEFAULT_PIXEL_ID, "base_url": url, "test_event_code": "TEST1"},
    )
    async with ctx:
        await connector.test_call(ctx)
        await connector.call(
            "send_events",
            [
                {
                    "event_name": "Purchase",
                    "event_time": "2026-03-02T14:00:00Z",
                    "action_source": "website",
                    "event_id": "o-1",
                    "event_source_url": "https://shop.example.com/thanks",
                    "user_data": {
                        "em": ["a@example.com", "B@example.com"],
                        "ph": "+1 650 555 1212",
                        "client_ip_address": "203.0.113.1",
                        "fbp": "fb.1.1.1",
                    },
                    "custom_data": {"value": 1.5, "currency": "USD"},
                },
                {
                    "event_name": "Lead",
                    "event_time": 1772460000,
                    "action_source": "system_generated",
                    "user_data": {"external_id": "crm-7"},
                },
            ],
            ctx,
        )
    posts = [c for c in sandbox.requests if c.method == "POST"]
    assert posts
    for call in posts:
        assert call.path == f"/v24.0/{DEFAULT_PIXEL_ID}/events"
        _check(META_EVENTS, call)


async def test_linkedin_requests_follow_the_conversion_events_schema(
    clock: RecordingClock, stack: contextlib.ExitStack
) -> None:
    sandbox = LinkedInCapiSandbox(LinkedInCapiSandboxConfig(), clock)
    url = serve(stack, sandbox)
    connector = LinkedInConversionsConnector()
    ctx = open_ctx(
        connector,
        clock,
        credentials={"access_token": LINKEDIN_TOKEN},
        config={"ad_account_id": DEFAULT_AD_ACCOUNT, "base_url": f"{url}/rest"},
    )
    event = {
        "conversion": 104012,
        "conversionHappenedAt": "2026-03-01T00:00:00Z",
        "conversionValue": {"currencyCode": "usd", "amount": 12.5},
        "eventId": "e-1",
        "email": "Dana@Example.com",
    }
    async with ctx:
        await connector.test_call(ctx)
        await connector.call("send_conversion_events", [event], ctx)
        await connector.call(
            "send_conversion_events",
            [
                event,
                {**event, "user": {"userIds": [], "userInfo": {"firstName": "a", "lastName": "b"}}},
            ],
            ctx,
        )
    posts = [c for c in sandbox.requests if c.method == "POST"]
    assert len(posts) == 2
    for call in sandbox.requests:
        assert call.headers["x-restli-protocol-version"] == "2.0.0"
        assert re.match(r"^\d{6}$", call.headers["linkedin-version"])
    single, batch = posts
    assert "x-restli-method" not in single.headers
    assert batch.headers["x-restli-method"] == "BATCH_CREATE"
    _check(LINKEDIN_EVENT, single)
    _check(LINKEDIN_BATCH, batch)


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (
            UPLOAD_CLICK_CONVERSIONS,
            {
                "conversions": [
                    {
                        "conversionAction": "customers/1/conversionActions/2",
                        "conversionDateTime": "2026-03-02 10:00:00+00:00",
                    }
                ]
            },
        ),
        (
            UPLOAD_CLICK_CONVERSIONS,
            {
                "partialFailure": True,
                "conversions": [
                    {
                        "conversionAction": "customers/1/conversionActions/2",
                        "conversionDateTime": "2026-03-02T10:00:00Z",
                    }
                ],
            },
        ),
        (
            UPLOAD_CLICK_CONVERSIONS,
            {
                "partialFailure": True,
                "conversions": [
                    {
                        "conversionAction": "customers/1/conversionActions/2",
                        "conversionDateTime": "2026-03-02 10:00:00+00:00",
                        "userIdentifiers": [{"hashedEmail": "a@b.co"}],
                    }
                ],
            },
        ),
        (
            META_EVENTS,
            {
                "data": [
                    {
                        "event_name": "Lead",
                        "event_time": 1,
                        "action_source": "website",
                        "user_data": {"em": "a@b.co"},
                    }
                ]
            },
        ),
        (
            META_EVENTS,
            {
                "data": [
                    {
                        "event_name": "Lead",
                        "event_time": 1,
                        "action_source": "website",
                        "user_data": {"email": "x"},
                    }
                ]
            },
        ),
        (
            LINKEDIN_EVENT,
            {
                "conversion": "urn:lla:llaPartnerConversion:1",
                "conversionHappenedAt": 1772460000,
                "user": {"userIds": []},
            },
        ),
    ],
)
def test_the_reference_schemas_refuse_what_the_vendors_refuse(
    schema: dict[str, Any], body: dict[str, Any]
) -> None:
    assert list(Draft202012Validator(schema).iter_errors(body))
