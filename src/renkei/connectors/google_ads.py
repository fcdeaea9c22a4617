"""Google Ads: offline click conversions, enhanced conversions for leads, Customer Match.

Contract (developers.google.com/google-ads/api, REST interface):

- ``POST /{version}/customers/{customer_id}:uploadClickConversions`` with
  ``{"conversions": [...], "partialFailure": true}``; at most 2,000 conversions per request
  (``TOO_MANY_CONVERSIONS_IN_REQUEST``). A conversion names its ``conversionAction``
  (``customers/{id}/conversionActions/{id}``), its ``conversionDateTime``
  (``yyyy-mm-dd hh:mm:ss+|-hh:mm``) and a click id (``gclid``/``gbraid``/``wbraid``) or,
  for enhanced conversions for leads, ``userIdentifiers`` (``hashedEmail``,
  ``hashedPhoneNumber``: SHA-256 of the normalised value). With partial failure on, the
  answer is 200 with one ``results`` entry per conversion (empty for a failed one) and a
  ``partialFailureError`` whose ``GoogleAdsFailure`` errors point at
  ``conversions[index]``.
- Customer Match through ``OfflineUserDataJobService``: ``offlineUserDataJobs:create`` a
  ``CUSTOMER_MATCH_USER_LIST`` job for the user list, ``:addOperations`` (``create`` or
  ``remove`` of user identifiers, ``enablePartialFailure``), then ``:run``.
- Every call carries ``Authorization: Bearer <OAuth token>``, ``developer-token`` and, for
  a manager account's access, ``login-customer-id``. An OAuth refresh token (with the
  OAuth client's id and secret) is exchanged for access tokens as they expire.
- Errors are ``{"error": {"code", "message", "status", "details": [GoogleAdsFailure]}}``;
  ``RESOURCE_EXHAUSTED`` (429) may say how long to wait in ``quotaErrorDetails.retryDelay``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from renkei.clock import Clock
from renkei.connectors._ads import error_object, google_datetime
from renkei.connectors._vendor import run_chunks
from renkei.connectors.auth import Auth, BearerAuth, RefreshTokenAuth, Send
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimitedError,
    ReauthenticateError,
    RecordError,
)
from renkei.connectors.oauth import (
    EXPIRES_AT,
    OAUTH_CLIENT_FIELDS,
    OAUTH_CONFIG_FIELDS,
    OAuthProvider,
    token_url,
)
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    Operation,
    OperationResult,
    RecordOk,
    RecordResult,
)
from renkei.egress.retry_after import parse_retry_after
from renkei.expr.identifiers import hash_email, hash_phone

__all__ = ["CONVERSIONS_PER_REQUEST", "OPERATIONS_PER_REQUEST", "GoogleAdsConnector"]

CONVERSIONS_PER_REQUEST = 2000
OPERATIONS_PER_REQUEST = 10_000
_DEFAULT_VERSION = "v22"
_DIGITS = re.compile(r"^\d+$")

_IDENTITY: dict[str, Any] = {
    "email": {"type": "string", "minLength": 3, "description": "plain (hashed here) or SHA-256"},
    "phone": {"type": "string", "minLength": 3, "description": "E.164 (hashed here) or SHA-256"},
}
CLICK_CONVERSION: dict[str, Any] = {
    "type": "object",
    "required": ["conversion_action", "conversion_date_time"],
    "anyOf": [{"required": [key]} for key in ("gclid", "gbraid", "wbraid", "email", "phone")],
    "properties": {
        "conversion_action": {
            "type": ["string", "integer"],
            "description": "conversion action id or resource name",
        },
        "conversion_date_time": {
            "type": ["string", "integer"],
            "description": "ISO 8601, Unix time, or yyyy-mm-dd hh:mm:ss+hh:mm",
        },
        "gclid": {"type": "string", "minLength": 1},
        "gbraid": {"type": "string", "minLength": 1},
        "wbraid": {"type": "string", "minLength": 1},
        **_IDENTITY,
        "conversion_value": {"type": "number"},
        "currency_code": {"type": "string", "minLength": 3, "maxLength": 3},
        "order_id": {"type": "string", "minLength": 1},
    },
    "additionalProperties": False,
}
MEMBER: dict[str, Any] = {
    "type": "object",
    "required": ["user_list"],
    "anyOf": [{"required": ["email"]}, {"required": ["phone"]}],
    "properties": {
        "user_list": {"type": ["string", "integer"], "description": "user list id or resource"},
        **_IDENTITY,
    },
    "additionalProperties": False,
}


class _GoogleAdsAuth(Auth):
    """The OAuth bearer token (static or refreshed) plus the developer token and, when
    set, the manager account the call is made through."""

    def __init__(self, inner: Auth, developer_token: str, login_customer_id: str | None) -> None:
        self._inner = inner
        self._developer_token = developer_token
        self._login_customer_id = login_customer_id

    async def apply(self, request: httpx.Request, send: Send) -> None:
        await self._inner.apply(request, send)
        request.headers["developer-token"] = self._developer_token
        if self._login_customer_id:
            request.headers["login-customer-id"] = self._login_customer_id

    async def invalidate(self, request: httpx.Request) -> bool:
        return await self._inner.invalidate(request)

    def secrets(self) -> tuple[str, ...]:
        return (*self._inner.secrets(), self._developer_token)


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class GoogleAdsConnector(Connector):
    # developers.google.com/identity/protocols/oauth2/web-server: access_type=offline and
    # prompt=consent so a refresh token comes back on every Connect; PKCE (S256) supported.
    oauth = OAuthProvider(
        authorize_endpoint="https://accounts.google.com/o/oauth2/v2/auth",
        exchange_endpoint="https://oauth2.googleapis.com/token",
        scopes=("https://www.googleapis.com/auth/adwords",),
        pkce=True,
        authorize_params={"access_type": "offline", "prompt": "consent"},
    )
    spec = ConnectorSpec(
        name="google_ads",
        title="Google Ads",
        docs_url="https://developers.google.com/google-ads/api/docs/conversions/overview",
        credentials=(
            Field("developer_token", "Google Ads API developer token", secret=True),
            Field(
                "refresh_token",
                "OAuth 2.0 refresh token with the adwords scope (with client_id and "
                "client_secret); or give access_token instead",
                secret=True,
                required=False,
            ),
            Field("client_id", "OAuth 2.0 client id", required=False),
            Field("client_secret", "OAuth 2.0 client secret", secret=True, required=False),
            Field(
                "access_token",
                "A ready OAuth 2.0 access token (short-lived; prefer the refresh token)",
                secret=True,
                required=False,
            ),
            OAUTH_CLIENT_FIELDS[-1],  # access_token_expires_at, set by Connect
        ),
        config=(
            Field("customer_id", "The advertiser's customer id (digits, dashes allowed)"),
            Field(
                "login_customer_id",
                "Manager account id when access goes through a manager (login-customer-id)",
                required=False,
            ),
            Field(
                "default_phone_country_code",
                "Country calling code for phone numbers written without one (e.g. 81)",
                required=False,
            ),
            Field(
                "consent_ad_user_data",
                "GRANTED or DENIED: the users' consent to send their data to Google for "
                "advertising (required for EEA users), sent with conversions and Customer Match",
                required=False,
            ),
            Field(
                "consent_ad_personalization",
                "GRANTED or DENIED: consent to personalised advertising, sent with Customer Match",
                required=False,
            ),
            Field("api_version", "Google Ads API version", required=False, default="v22"),
            Field(
                "base_url",
                "API host (a sandbox's URL in tests)",
                required=False,
                default="https://googleads.googleapis.com",
            ),
            Field(
                "token_url",
                "OAuth 2.0 token endpoint",
                required=False,
                default="https://oauth2.googleapis.com/token",
            ),
            OAUTH_CONFIG_FIELDS[0],  # oauth_authorize_url
        ),
        operations=(
            Operation(
                "upload_click_conversions",
                "Offline click conversions (gclid, gbraid or wbraid) and enhanced conversions "
                "for leads (email/phone, hashed as Google requires); 2,000 per request, "
                "partial failure on: a rejected conversion fails alone.",
                CLICK_CONVERSION,
                batchable=True,
                max_batch_size=CONVERSIONS_PER_REQUEST,
            ),
            Operation(
                "add_customer_match_members",
                "Add people (hashed email and/or phone) to Customer Match user lists, "
                "through an offline user data job per list.",
                MEMBER,
                batchable=True,
                max_batch_size=OPERATIONS_PER_REQUEST,
            ),
            Operation(
                "remove_customer_match_members",
                "Remove people from Customer Match user lists.",
                MEMBER,
                batchable=True,
                max_batch_size=OPERATIONS_PER_REQUEST,
            ),
        ),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "2,000 conversions per uploadClickConversions request",
        "10,000 operations per offline user data job addOperations request",
        "Daily API operations per developer token by access level (Basic: 15,000); "
        "RESOURCE_EXHAUSTED waits quotaErrorDetails.retryDelay",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        version = str(config.get("api_version") or _DEFAULT_VERSION)
        return f"{str(config['base_url']).rstrip('/')}/{version}"

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        creds = connection.credentials
        config = connection.config
        if creds.get("refresh_token"):
            if not (creds.get("client_id") and creds.get("client_secret")):
                raise ConfigurationError(
                    "google_ads: a refresh_token needs client_id and client_secret",
                    code="invalid_settings",
                )
            assert self.oauth is not None
            inner: Auth = RefreshTokenAuth(
                token_url(self.oauth, config),
                creds["client_id"],
                creds["client_secret"],
                creds["refresh_token"],
                on_rotate=connection.rotation_callback("refresh_token"),
                default_expires_in=3600.0,
                clock=clock,
                access_token=creds.get("access_token") or None,
                expires_at=_float_or_none(creds.get(EXPIRES_AT)),
            )
        elif creds.get("access_token"):
            inner = BearerAuth(creds["access_token"])
        else:
            raise ConfigurationError(
                "google_ads: give refresh_token (with client_id, client_secret) or access_token",
                code="invalid_settings",
            )
        login = _customer_id(config.get("login_customer_id"))
        return _GoogleAdsAuth(inner, creds["developer_token"], login)

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        status = response.status_code
        if status < 300:
            return None
        error = error_object(response)
        reason = _reason(error)
        where = f"HTTP {status} from Google Ads {response.request.url.path}"
        message = f"{where}: {reason}" if reason else where
        code = str(error.get("status") or status)
        if status == 429 or error.get("status") == "RESOURCE_EXHAUSTED":
            retry_after = _retry_delay(error)
            if retry_after is None:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            return RateLimitedError(message, retry_after=retry_after, code=code, status_code=status)
        if status == 401:
            return ReauthenticateError(message, code=code, status_code=status)
        if status == 403:
            return ConfigurationError(message, code=code, status_code=status)
        if 400 <= status < 500 and status != 408:
            return PermanentError(message, code=code, status_code=status)
        return None

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """``listAccessibleCustomers``: proves the OAuth token and developer token."""
        response = await ctx.http.request(
            "GET", "/customers:listAccessibleCustomers", operation="test"
        )
        names = response.json().get("resourceNames") or []
        customer = _customer(ctx.config)
        return {
            "customer_id": customer,
            "accessible": f"customers/{customer}" in names,
            "accessible_customers": len(names),
        }

    # --- operations --------------------------------------------------------------------

    async def upload_click_conversions(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        customer = _customer(ctx.config)
        results: dict[int, RecordResult] = {}
        body_of: dict[int, dict[str, Any]] = {}
        for index, record in enumerate(records):
            try:
                body_of[index] = {
                    **_click_conversion(record, customer, _country(ctx.config)),
                    **_consent(ctx.config, personalization=False),
                }
            except ValueError as exc:
                results[index] = RecordError(index, "invalid_input", str(exc))
        valid = sorted(body_of)
        chunks = [
            valid[start : start + CONVERSIONS_PER_REQUEST]
            for start in range(0, len(valid), CONVERSIONS_PER_REQUEST)
        ]

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            response = await ctx.http.request(
                "POST",
                f"/customers/{customer}:uploadClickConversions",
                operation="upload_click_conversions",
                json={"conversions": [body_of[i] for i in chunk], "partialFailure": True},
            )
            answer = response.json()
            failures = _partial_failures(answer, "conversions")
            out: dict[int, RecordResult] = {}
            for position, index in enumerate(chunk):
                if position in failures:
                    code, message = failures[position]
                    out[index] = RecordError(index, code, message)
                else:
                    out[index] = RecordOk(index, status="uploaded")
            return out

        results.update(await run_chunks(chunks, send))
        return OperationResult(
            records=tuple(results[i] for i in sorted(results)), data={"requests": len(chunks)}
        )

    async def add_customer_match_members(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        return await self._customer_match("create", records, ctx)

    async def remove_customer_match_members(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        return await self._customer_match("remove", records, ctx)

    async def _customer_match(
        self, action: str, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        customer = _customer(ctx.config)
        results: dict[int, RecordResult] = {}
        by_list: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for index, record in enumerate(records):
            try:
                user_list = _resource(record["user_list"], customer, "userLists")
                identifiers = _user_identifiers(record, _country(ctx.config))
            except ValueError as exc:
                results[index] = RecordError(index, "invalid_input", str(exc))
                continue
            operation = {action: {"userIdentifiers": identifiers}}
            by_list.setdefault(user_list, []).append((index, operation))
        list_of = {index: name for name, members in by_list.items() for index, _ in members}

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            user_list = list_of[chunk[0]]
            return await self._run_job(customer, user_list, by_list[user_list], ctx)

        # One job per list, in one run: a list that fails for good fails its own members,
        # a transient failure after the first list marks only the lists not yet sent.
        chunks = [[index for index, _ in members] for members in by_list.values()]
        results.update(await run_chunks(chunks, send))
        return OperationResult(
            records=tuple(results[i] for i in sorted(results)), data={"jobs": len(chunks)}
        )

    async def _run_job(
        self,
        customer: str,
        user_list: str,
        members: Sequence[tuple[int, dict[str, Any]]],
        ctx: CallContext,
    ) -> dict[int, RecordResult]:
        created = await ctx.http.request(
            "POST",
            f"/customers/{customer}/offlineUserDataJobs:create",
            operation="customer_match",
            json={
                "job": {
                    "type": "CUSTOMER_MATCH_USER_LIST",
                    "customerMatchUserListMetadata": {
                        "userList": user_list,
                        **_consent(ctx.config, personalization=True),
                    },
                }
            },
            idempotent=False,
        )
        job = str(created.json().get("resourceName") or "")
        if not job.startswith(f"customers/{customer}/offlineUserDataJobs/"):
            raise PermanentError("Google Ads created no offline user data job", code="no_job")
        answer = (
            await ctx.http.request(
                "POST",
                f"/{job}:addOperations",
                operation="customer_match",
                json={"operations": [op for _, op in members], "enablePartialFailure": True},
            )
        ).json()
        failures = _partial_failures(answer, "operations")
        await ctx.http.request("POST", f"/{job}:run", operation="customer_match", json={})
        out: dict[int, RecordResult] = {}
        for position, (index, _) in enumerate(members):
            if position in failures:
                code, message = failures[position]
                out[index] = RecordError(index, code, message)
            else:
                out[index] = RecordOk(index, id=job, status="submitted")
        return out


def _customer(config: Mapping[str, Any]) -> str:
    customer = _customer_id(config["customer_id"])
    if customer is None:
        raise ConfigurationError("google_ads: customer_id is required", code="invalid_settings")
    return customer


def _customer_id(value: Any) -> str | None:
    """Digits of a customer id written ``123-456-7890``; None when unset."""
    if value in (None, ""):
        return None
    digits = str(value).replace("-", "").strip()
    if not _DIGITS.match(digits):
        raise ConfigurationError(
            f"not a Google Ads customer id: {value!r}", code="invalid_settings"
        )
    return digits


def _resource(value: Any, customer: str, collection: str) -> str:
    """A resource name from an id (``123``) or a name (``customers/1/userLists/123``)."""
    text = str(value).strip()
    if _DIGITS.match(text):
        return f"customers/{customer}/{collection}/{text}"
    if re.match(rf"^customers/\d+/{collection}/\d+$", text):
        return text
    raise ValueError(f"not a {collection} id or resource name: {text!r}")


def _user_identifiers(record: Mapping[str, Any], country: str | None) -> list[dict[str, str]]:
    identifiers: list[dict[str, str]] = []
    if record.get("email"):
        identifiers.append({"hashedEmail": hash_email(str(record["email"]), "google")})
    if record.get("phone"):
        phone = hash_phone(str(record["phone"]), "google", default_country_code=country)
        identifiers.append({"hashedPhoneNumber": phone})
    return identifiers


def _consent(config: Mapping[str, Any], *, personalization: bool) -> dict[str, Any]:
    """``{"consent": {...}}`` from the connection's consent settings, or nothing."""
    fields = [("adUserData", "consent_ad_user_data")]
    if personalization:
        fields.append(("adPersonalization", "consent_ad_personalization"))
    consent: dict[str, str] = {}
    for key, setting in fields:
        value = config.get(setting)
        if value in (None, ""):
            continue
        status = str(value).upper()
        if status not in ("GRANTED", "DENIED"):
            raise ConfigurationError(
                f"google_ads: {setting} must be GRANTED or DENIED", code="invalid_settings"
            )
        consent[key] = status
    return {"consent": consent} if consent else {}


def _country(config: Mapping[str, Any]) -> str | None:
    code = config.get("default_phone_country_code")
    return str(code) if code not in (None, "") else None


def _click_conversion(
    record: Mapping[str, Any], customer: str, country: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "conversionAction": _resource(record["conversion_action"], customer, "conversionActions"),
        "conversionDateTime": google_datetime(record["conversion_date_time"]),
    }
    for key in ("gclid", "gbraid", "wbraid"):
        if record.get(key):
            body[key] = record[key]
    if identifiers := _user_identifiers(record, country):
        body["userIdentifiers"] = identifiers
    if "conversion_value" in record:
        body["conversionValue"] = record["conversion_value"]
    if record.get("currency_code"):
        body["currencyCode"] = str(record["currency_code"]).upper()
    if record.get("order_id"):
        body["orderId"] = record["order_id"]
    return body


def _failures_of(status: Any) -> list[dict[str, Any]]:
    """The GoogleAdsError entries of a google.rpc.Status."""
    if not isinstance(status, dict):
        return []
    found: list[dict[str, Any]] = []
    for detail in status.get("details") or []:
        if isinstance(detail, dict):
            found += [e for e in detail.get("errors") or [] if isinstance(e, dict)]
    return found


def _partial_failures(answer: Any, field_name: str) -> dict[int, tuple[str, str]]:
    """Position → (error code, message) of every operation a partial failure names."""
    status = answer.get("partialFailureError") if isinstance(answer, dict) else None
    failed: dict[int, tuple[str, str]] = {}
    for error in _failures_of(status):
        path = (error.get("location") or {}).get("fieldPathElements") or []
        first = path[0] if path and isinstance(path[0], dict) else {}
        index = first.get("index")
        if first.get("fieldName") != field_name or not isinstance(index, int):
            continue
        failed.setdefault(index, (_error_code(error), str(error.get("message") or "rejected")))
    return failed


def _error_code(error: Mapping[str, Any]) -> str:
    """``conversionUploadError.UNPARSEABLE_GCLID`` style, from ``errorCode``."""
    code = error.get("errorCode")
    if isinstance(code, dict) and code:
        kind, value = next(iter(code.items()))
        return f"{kind}.{value}"
    return "google_ads_error"


def _reason(error: Mapping[str, Any]) -> str:
    failures = _failures_of(error)
    if failures:
        first = failures[0]
        return f"{_error_code(first)}: {first.get('message', '')}"[:300]
    return str(error.get("message") or "")[:300]


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """``quotaErrorDetails.retryDelay`` (a protobuf Duration in JSON: ``"30s"``)."""
    for failure in _failures_of(error):
        details = failure.get("details")
        quota = details.get("quotaErrorDetails") if isinstance(details, dict) else None
        delay = quota.get("retryDelay") if isinstance(quota, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None
