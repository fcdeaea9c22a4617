"""A local Google Ads API (REST): click conversions, offline user data jobs, OAuth tokens.

As Google documents it:

- OAuth 2.0 as Google runs it: the consent page ``GET /o/oauth2/v2/auth`` (approves at once,
  redirects with ``code`` and ``state``; PKCE), ``POST /token`` (``authorization_code``
  with the verifier, or ``refresh_token``, with the OAuth client's id and secret) for an
  access token valid ``token_lifetime_seconds``, ``POST /revoke``.
- Every ``/{version}/...`` call needs ``Authorization: Bearer`` with a live token (401
  ``UNAUTHENTICATED`` otherwise), the ``developer-token`` header, and a customer the token
  may reach (403 ``PERMISSION_DENIED``).
- ``customers/{id}:uploadClickConversions``: ``partialFailure`` must be true; more than
  ``max_conversions`` (2,000) is a 400 ``TOO_MANY_CONVERSIONS_IN_REQUEST`` and a
  violation. Each conversion is checked on its own (known conversion action, the
  ``yyyy-mm-dd hh:mm:ss+|-hh:mm`` time, a parseable click id or hashed identifiers as 64
  lowercase hex, no duplicate); a bad one gets an empty result and an entry in
  ``partialFailureError`` pointing at ``conversions[i]``, the rest are recorded.
- ``offlineUserDataJobs:create`` / ``{job}:addOperations`` / ``{job}:run`` for
  ``CUSTOMER_MATCH_USER_LIST`` jobs; ``run`` applies the members to the list.
- ``daily_operations`` calls per day (Basic access: 15,000), then 429
  ``RESOURCE_EXHAUSTED`` with ``quotaErrorDetails.retryDelay``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import JSONResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import BadBody, VendorSandbox, json_body
from renkei.sandbox._common import Call, ViolationKind, bearer_token
from renkei.sandbox._oauth import OAuthServer

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_CUSTOMER_ID",
    "DEFAULT_DEVELOPER_TOKEN",
    "DEFAULT_REFRESH_TOKEN",
    "GoogleAdsSandbox",
    "GoogleAdsSandboxConfig",
    "create_google_ads_app",
]

DEFAULT_DEVELOPER_TOKEN = "google-ads-sandbox-developer-token"
DEFAULT_CLIENT_ID = "google-ads-sandbox.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "google-ads-sandbox-client-secret"
DEFAULT_REFRESH_TOKEN = "1//google-ads-sandbox-refresh-token"
DEFAULT_CUSTOMER_ID = "1234567890"
_HASH = re.compile(r"^[0-9a-f]{64}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
_CLICK_ID = re.compile(r"^[A-Za-z0-9_\-]{10,}$")
_PATH = re.compile(r"^/(v\d+)/customers(?:/(\d+))?(.*)$")


@dataclass(frozen=True)
class GoogleAdsSandboxConfig:
    developer_tokens: tuple[str, ...] = (DEFAULT_DEVELOPER_TOKEN,)
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    refresh_tokens: tuple[str, ...] = (DEFAULT_REFRESH_TOKEN,)
    access_tokens: tuple[str, ...] = ()  # tokens that never expire, for quick trials
    token_lifetime_seconds: float = 3599.0
    customer_ids: tuple[str, ...] = (DEFAULT_CUSTOMER_ID,)
    conversion_actions: tuple[str, ...] = ("1001", "1002")
    user_lists: tuple[str, ...] = ("2001", "2002")
    max_conversions: int = 2000
    max_job_operations: int = 10_000
    daily_operations: int = 15_000
    retry_delay_seconds: int = 30


@dataclass
class OfflineUserDataJob:
    resource_name: str
    user_list: str
    status: str = "PENDING"
    operations: list[dict[str, Any]] = field(default_factory=list)
    consent: dict[str, str] | None = None


class GoogleAdsSandbox(VendorSandbox[GoogleAdsSandboxConfig]):
    def __init__(self, config: GoogleAdsSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.oauth = OAuthServer(
            config.client_id,
            config.client_secret,
            clock,
            token_lifetime=config.token_lifetime_seconds,
            access_prefix="ya29.sandbox-",
            refresh_tokens=set(config.refresh_tokens),
        )
        for token in config.access_tokens:
            self.oauth.add_static(token)
        self.conversions: list[dict[str, Any]] = []
        self.jobs: dict[str, OfflineUserDataJob] = {}
        self.members: dict[str, set[str]] = {}  # user list resource → identifier hashes
        self.operations_today = 0
        self._day = -1
        self._ids = itertools.count(1)
        self._job_ids = itertools.count(1)  # jobs are numbered 1, 2, ... per sandbox

    def connection_help(self, base_url: str) -> str:
        c = self.config
        return (
            f"Google Ads sandbox at {base_url}\n"
            f"  config: base_url={base_url} token_url={base_url}/token "
            f"customer_id={c.customer_ids[0]}\n"
            f"  credentials: developer_token={c.developer_tokens[0]} client_id={c.client_id} "
            f"client_secret={c.client_secret} refresh_token={c.refresh_tokens[0]}\n"
            f"  conversion actions {', '.join(c.conversion_actions)}; "
            f"user lists {', '.join(c.user_lists)}"
        )

    def list_members(self, user_list_id: str, customer: str = DEFAULT_CUSTOMER_ID) -> set[str]:
        return self.members.get(f"customers/{customer}/userLists/{user_list_id}", set())

    # --- pipeline ----------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return _quota_error(self.config.retry_delay_seconds)
        names = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 500: "INTERNAL"}
        return {"error": {"code": status, "message": "injected", "status": names.get(status)}}

    def fault_headers(self, status: int) -> dict[str, str]:
        return {}  # Google says how long to wait in the body (retryDelay), not Retry-After

    async def handle(self, call: Call) -> Response:
        if (answer := self._oauth_endpoint(call)) is not None:
            return answer
        match = _PATH.match(call.path)
        if match is None:
            return _error(404, "NOT_FOUND", "requestError", "UNKNOWN_PATH", "no such method")
        version, customer, rest = match.groups()
        token = bearer_token(call)
        if not self.oauth.valid(token):
            return _error(
                401,
                "UNAUTHENTICATED",
                "authenticationError",
                "OAUTH_TOKEN_INVALID",
                "Request had invalid authentication credentials.",
            )
        if call.headers.get("developer-token") not in self.config.developer_tokens:
            return _error(
                401,
                "UNAUTHENTICATED",
                "authenticationError",
                "DEVELOPER_TOKEN_INVALID",
                "The developer token is not valid.",
            )
        if self._over_quota():
            self.violate(ViolationKind.DAILY_QUOTA, call.path, "daily operations spent")
            return JSONResponse(_quota_error(self.config.retry_delay_seconds), status_code=429)
        await self.admitted()
        if customer is None:
            if (call.method, rest) == ("GET", ":listAccessibleCustomers"):
                names = [f"customers/{c}" for c in self.config.customer_ids]
                return JSONResponse({"resourceNames": names})
            return _error(404, "NOT_FOUND", "requestError", "UNKNOWN_PATH", "no such method")
        if customer not in self.config.customer_ids:
            return _error(
                403,
                "PERMISSION_DENIED",
                "authorizationError",
                "USER_PERMISSION_DENIED",
                "The caller does not have permission to access the customer.",
            )
        try:
            body = json_body(call)
        except BadBody as exc:
            return _error(400, "INVALID_ARGUMENT", "requestError", "INVALID_INPUT", exc.detail)
        if not isinstance(body, dict) or call.method != "POST":
            return _error(400, "INVALID_ARGUMENT", "requestError", "INVALID_INPUT", "bad request")
        if rest == ":uploadClickConversions":
            return self._upload(customer, version, body)
        if rest == "/offlineUserDataJobs:create":
            return self._create_job(customer, body)
        job_match = re.match(r"^/offlineUserDataJobs/(\d+):(addOperations|run)$", rest)
        if job_match:
            name = f"customers/{customer}/offlineUserDataJobs/{job_match.group(1)}"
            job = self.jobs.get(name)
            if job is None:
                return _error(404, "NOT_FOUND", "offlineUserDataJobError", "NOT_FOUND", name)
            if job_match.group(2) == "run":
                return self._run(job)
            return self._add_operations(job, version, body)
        return _error(404, "NOT_FOUND", "requestError", "UNKNOWN_PATH", "no such method")

    # --- OAuth -------------------------------------------------------------------------

    def _oauth_endpoint(self, call: Call) -> Response | None:
        """Google's OAuth 2.0 endpoints: the consent page (accounts.google.com
        ``/o/oauth2/v2/auth``), ``/token`` and ``/revoke`` (oauth2.googleapis.com)."""
        if call.method == "GET" and call.path == "/o/oauth2/v2/auth":
            return self.oauth.authorize(dict(call.query))
        if call.method != "POST" or call.path not in ("/token", "/revoke"):
            return None
        form = {k: v[-1] for k, v in parse_qs(call.body.decode("utf-8", "replace")).items()}
        if call.path == "/revoke":
            return self.oauth.revoke(form.get("token") or call.query.get("token"))
        response = self.oauth.token(form, call.headers.get("authorization"))
        if response.status_code == 200:
            self.counters.tokens_issued += 1
        return response

    def _over_quota(self) -> bool:
        day = int(self.clock.time() // 86400)
        if day != self._day:
            self._day, self.operations_today = day, 0
        if self.operations_today >= self.config.daily_operations:
            return True
        self.operations_today += 1
        return False

    # --- conversions -------------------------------------------------------------------

    def _upload(self, customer: str, version: str, body: Mapping[str, Any]) -> Response:
        conversions = body.get("conversions")
        if not isinstance(conversions, list) or not conversions:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "requestError",
                "REQUIRED_FIELD_MISSING",
                "conversions is required",
            )
        if body.get("partialFailure") is not True:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "requestError",
                "REQUIRED_FIELD_MISSING",
                "partial_failure is required and must be true",
            )
        if len(conversions) > self.config.max_conversions:
            self.violate(ViolationKind.BATCH_SIZE, "uploadClickConversions", f"{len(conversions)}")
            return _error(
                400,
                "INVALID_ARGUMENT",
                "conversionUploadError",
                "TOO_MANY_CONVERSIONS_IN_REQUEST",
                f"at most {self.config.max_conversions} conversions per request",
            )
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        seen: set[tuple[str, str, str]] = set()
        for index, conversion in enumerate(conversions):
            problem = self._conversion_problem(customer, conversion, seen)
            if problem is None:
                self.conversions.append({**conversion, "customer": customer})
                results.append(
                    {
                        k: conversion[k]
                        for k in (
                            "gclid",
                            "gbraid",
                            "wbraid",
                            "conversionAction",
                            "conversionDateTime",
                        )
                        if k in conversion
                    }
                )
            else:
                kind, code, message = problem
                results.append({})
                errors.append(_located(kind, code, message, "conversions", index))
        answer: dict[str, Any] = {"results": results, "jobId": str(next(self._ids))}
        if errors:
            answer["partialFailureError"] = _partial(version, errors)
        return JSONResponse(answer)

    def _conversion_problem(
        self, customer: str, conversion: Any, seen: set[tuple[str, str, str]]
    ) -> tuple[str, str, str] | None:
        if not isinstance(conversion, dict):
            return ("requestError", "INVALID_INPUT", "a conversion is an object")
        action = str(conversion.get("conversionAction") or "")
        prefix = f"customers/{customer}/conversionActions/"
        if not action.startswith(prefix) or action[len(prefix) :] not in (
            self.config.conversion_actions
        ):
            return ("conversionUploadError", "INVALID_CONVERSION_ACTION", f"{action!r}")
        when = conversion.get("conversionDateTime")
        if not isinstance(when, str) or not _DATE_TIME.match(when):
            return (
                "dateError",
                "INVALID_FIELD_VALUES_IN_DATE_TIME",
                "conversion_date_time must be yyyy-mm-dd hh:mm:ss+|-hh:mm",
            )
        clicks = [conversion[k] for k in ("gclid", "gbraid", "wbraid") if conversion.get(k)]
        identifiers = conversion.get("userIdentifiers") or []
        if len(clicks) > 1:
            return ("conversionUploadError", "CLICK_ID_CONFLICT", "one click id at most")
        if not clicks and not identifiers:
            return (
                "conversionUploadError",
                "NO_CLICK_IDENTIFIER",
                "a gclid, gbraid, wbraid or user identifiers are required",
            )
        if clicks and not (isinstance(clicks[0], str) and _CLICK_ID.match(clicks[0])):
            return ("conversionUploadError", "UNPARSEABLE_GCLID", "the click id cannot be parsed")
        if problem := _identifiers_problem(identifiers, limit=5):
            return problem
        if problem := _consent_problem(conversion.get("consent")):
            return problem
        key = (str(clicks[0] if clicks else conversion.get("orderId")), action, when)
        if key in seen:
            return (
                "conversionUploadError",
                "DUPLICATE_CLICK_CONVERSION_IN_REQUEST",
                "the same conversion twice in one request",
            )
        seen.add(key)
        return None

    # --- Customer Match ----------------------------------------------------------------

    def _create_job(self, customer: str, body: Mapping[str, Any]) -> Response:
        job = body.get("job")
        metadata = job.get("customerMatchUserListMetadata") if isinstance(job, dict) else None
        user_list = metadata.get("userList") if isinstance(metadata, dict) else None
        prefix = f"customers/{customer}/userLists/"
        if not isinstance(job, dict) or job.get("type") != "CUSTOMER_MATCH_USER_LIST":
            return _error(
                400,
                "INVALID_ARGUMENT",
                "offlineUserDataJobError",
                "INVALID_JOB_TYPE",
                "type must be CUSTOMER_MATCH_USER_LIST",
            )
        if (
            not isinstance(user_list, str)
            or not user_list.startswith(prefix)
            or (user_list[len(prefix) :] not in self.config.user_lists)
        ):
            return _error(
                400,
                "INVALID_ARGUMENT",
                "offlineUserDataJobError",
                "INVALID_USER_LIST_ID",
                f"{user_list!r}",
            )
        consent = metadata.get("consent") if isinstance(metadata, dict) else None
        if problem := _consent_problem(consent):
            return _error(400, "INVALID_ARGUMENT", *problem)
        name = f"customers/{customer}/offlineUserDataJobs/{next(self._job_ids)}"
        self.jobs[name] = OfflineUserDataJob(name, user_list, consent=consent)
        return JSONResponse({"resourceName": name})

    def _add_operations(self, job: OfflineUserDataJob, version: str, body: Any) -> Response:
        if job.status != "PENDING":
            return _error(
                400,
                "INVALID_ARGUMENT",
                "offlineUserDataJobError",
                "INVALID_JOB_STATUS",
                "operations can only be added to a pending job",
            )
        operations = body.get("operations")
        if not isinstance(operations, list) or not operations:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "requestError",
                "REQUIRED_FIELD_MISSING",
                "operations is required",
            )
        if len(operations) > self.config.max_job_operations:
            self.violate(ViolationKind.BATCH_SIZE, "addOperations", f"{len(operations)}")
            return _error(
                400,
                "INVALID_ARGUMENT",
                "mutateError",
                "TOO_MANY_MUTATE_OPERATIONS",
                f"at most {self.config.max_job_operations} operations per request",
            )
        partial = body.get("enablePartialFailure") is True
        errors: list[dict[str, Any]] = []
        accepted: list[dict[str, Any]] = []
        for index, operation in enumerate(operations):
            problem = _operation_problem(operation)
            if problem is None:
                accepted.append(operation)
            else:
                errors.append(_located(*problem, "operations", index))
        if errors and not partial:
            return JSONResponse(
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "invalid",
                        "details": _partial(version, errors)["details"],
                    }
                },
                status_code=400,
            )
        job.operations += accepted
        answer: dict[str, Any] = {}
        if errors:
            answer["partialFailureError"] = _partial(version, errors)
        return JSONResponse(answer)

    def _run(self, job: OfflineUserDataJob) -> Response:
        if job.status != "PENDING":
            return _error(
                400,
                "INVALID_ARGUMENT",
                "offlineUserDataJobError",
                "INVALID_JOB_STATUS",
                "the job already ran",
            )
        members = self.members.setdefault(job.user_list, set())
        for operation in job.operations:
            action = "create" if "create" in operation else "remove"
            for identifier in operation[action]["userIdentifiers"]:
                value = next(iter(identifier.values()))
                (members.add if action == "create" else members.discard)(value)
        job.status = "SUCCESS"
        customer = job.resource_name.split("/")[1]
        return JSONResponse(
            {"name": f"customers/{customer}/operations/{next(self._ids)}", "done": False}
        )


def _identifiers_problem(identifiers: Any, *, limit: int) -> tuple[str, str, str] | None:
    if not isinstance(identifiers, list):
        return ("requestError", "INVALID_INPUT", "user_identifiers must be a list")
    if len(identifiers) > limit:
        return ("collectionSizeError", "TOO_MANY", f"at most {limit} user identifiers")
    for identifier in identifiers:
        if not isinstance(identifier, dict) or len(identifier) != 1:
            return ("requestError", "INVALID_INPUT", "one identifier per UserIdentifier")
        ((kind, value),) = identifier.items()
        if kind not in ("hashedEmail", "hashedPhoneNumber"):
            return ("requestError", "INVALID_INPUT", f"unsupported identifier {kind}")
        if not isinstance(value, str) or not _HASH.match(value):
            return (
                "offlineUserDataJobError",
                "INVALID_SHA256_FORMAT",
                f"{kind} must be a SHA-256 digest in lowercase hex",
            )
    return None


_CONSENT_STATUSES = frozenset({"UNSPECIFIED", "UNKNOWN", "GRANTED", "DENIED"})


def _consent_problem(consent: Any) -> tuple[str, str, str] | None:
    """``Consent``: ``adUserData`` and ``adPersonalization``, each a ConsentStatus."""
    if consent is None:
        return None
    if not isinstance(consent, dict) or not set(consent) <= {"adUserData", "adPersonalization"}:
        return ("requestError", "INVALID_INPUT", "consent has adUserData and adPersonalization")
    if any(value not in _CONSENT_STATUSES for value in consent.values()):
        return ("requestError", "INVALID_ENUM_VALUE", "consent status must be GRANTED or DENIED")
    return None


def _operation_problem(operation: Any) -> tuple[str, str, str] | None:
    if not isinstance(operation, dict) or len(operation) != 1:
        return ("requestError", "INVALID_INPUT", "an operation is create or remove")
    ((action, member),) = operation.items()
    if action not in ("create", "remove") or not isinstance(member, dict):
        return ("requestError", "INVALID_INPUT", "an operation is create or remove")
    identifiers = member.get("userIdentifiers")
    if not identifiers:
        return ("offlineUserDataJobError", "MISSING_USER_IDENTIFIER", "no user identifier")
    return _identifiers_problem(identifiers, limit=20)


def _located(kind: str, code: str, message: str, field_name: str, index: int) -> dict[str, Any]:
    return {
        "errorCode": {kind: code},
        "message": message,
        "location": {"fieldPathElements": [{"fieldName": field_name, "index": index}]},
    }


def _partial(version: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "code": 3,
        "message": f"{len(errors)} operation(s) failed",
        "details": [
            {
                "@type": f"type.googleapis.com/google.ads.googleads.{version}.errors."
                "GoogleAdsFailure",
                "errors": errors,
            }
        ],
    }


def _quota_error(retry_delay: int) -> dict[str, Any]:
    return {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure",
                    "errors": [
                        {
                            "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                            "message": f"Too many requests. Retry in {retry_delay} seconds.",
                            "details": {
                                "quotaErrorDetails": {
                                    "rateScope": "DEVELOPER",
                                    "rateName": "Number of operations for basic access",
                                    "retryDelay": f"{retry_delay}s",
                                }
                            },
                        }
                    ],
                }
            ],
        }
    }


def _error(status: int, grpc: str, kind: str, code: str, message: str) -> Response:
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": grpc,
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure",
                    "errors": [{"errorCode": {kind: code}, "message": message}],
                }
            ],
        }
    }
    return JSONResponse(body, status_code=status)


def create_google_ads_app(
    config: GoogleAdsSandboxConfig | None = None, clock: Clock | None = None
) -> GoogleAdsSandbox:
    return GoogleAdsSandbox(config or GoogleAdsSandboxConfig(), clock or SystemClock())
