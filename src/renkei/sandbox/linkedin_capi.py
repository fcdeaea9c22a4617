"""A local LinkedIn Conversions API: ``/rest/conversionEvents``, as LinkedIn documents it.

- ``Authorization: Bearer`` with a known member token (401 ``EMPTY_ACCESS_TOKEN`` /
  ``INVALID_ACCESS_TOKEN`` otherwise), ``X-Restli-Protocol-Version: 2.0.0`` and a
  ``LinkedIn-Version: YYYYMM`` header (400 without either).
- One event: 201 with ``x-restli-id``, or a 400/422 for it. ``X-RestLi-Method:
  BATCH_CREATE`` with ``{"elements": [...]}``: 200 with one ``{"status"}`` per element, a
  rejected element carrying its own ``error``; more than ``max_batch`` (5,000) is a 400 and
  a violation.
- An event needs a conversion rule it knows (``urn:lla:llaPartnerConversion:{id}``),
  ``conversionHappenedAt`` in epoch milliseconds within the last 90 days, ``user.userIds``
  (a list, possibly empty when ``userInfo`` has first and last name) of known id types,
  ``SHA256_EMAIL`` being 64 lowercase hex digits, and, when given, a ``conversionValue``
  with a three-letter currency and the amount as a string.
- ``GET /rest/adAccounts/{id}`` for the connector's test.
- OAuth 2.0 (www.linkedin.com): ``GET /oauth/v2/authorization`` (approves at once and
  redirects with ``code``), ``POST /oauth/v2/accessToken`` (authorization code with PKCE,
  or a refresh token), ``POST /oauth/v2/revoke``.
- ``rate_limit`` calls per ``rate_window_seconds`` (application throttle); past it, 429
  with ``Retry-After`` and a recorded violation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import JSONResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import BadBody, FixedWindow, VendorSandbox, json_body, up
from renkei.sandbox._common import Call, ViolationKind, bearer_token
from renkei.sandbox._oauth import OAuthServer

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_AD_ACCOUNT",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "LinkedInCapiSandbox",
    "LinkedInCapiSandboxConfig",
    "create_linkedin_capi_app",
]

DEFAULT_ACCESS_TOKEN = "AQV-linkedin-capi-sandbox-token"
DEFAULT_AD_ACCOUNT = "507404993"
DEFAULT_CLIENT_ID = "linkedin-sandbox-client"
DEFAULT_CLIENT_SECRET = "linkedin-sandbox-client-secret"
DEFAULT_REFRESH_TOKEN = "AQX-linkedin-sandbox-refresh-token"
ID_TYPES = frozenset(
    {"SHA256_EMAIL", "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "ACXIOM_ID", "ORACLE_MOAT_ID"}
)
_URN = "urn:lla:llaPartnerConversion:"
_HASH = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^\d{6}(\.\d{2})?$")
_NINETY_DAYS_MS = 90 * 86400 * 1000


@dataclass(frozen=True)
class LinkedInCapiSandboxConfig:
    access_tokens: tuple[str, ...] = (DEFAULT_ACCESS_TOKEN,)  # never expire
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    refresh_tokens: tuple[str, ...] = (DEFAULT_REFRESH_TOKEN,)
    token_lifetime_seconds: float = 60 * 86400.0  # member tokens live 60 days
    ad_accounts: tuple[str, ...] = (DEFAULT_AD_ACCOUNT,)
    conversion_rules: tuple[str, ...] = ("104012", "104013")
    max_batch: int = 5000
    rate_limit: int = 600
    rate_window_seconds: float = 60.0


class LinkedInCapiSandbox(VendorSandbox[LinkedInCapiSandboxConfig]):
    def __init__(self, config: LinkedInCapiSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.events: list[dict[str, Any]] = []
        self.window = FixedWindow(config.rate_limit, config.rate_window_seconds)
        self.oauth = OAuthServer(
            config.client_id,
            config.client_secret,
            clock,
            token_lifetime=config.token_lifetime_seconds,
            access_prefix="AQV-sandbox-",
            refresh_tokens=set(config.refresh_tokens),
        )
        for token in config.access_tokens:
            self.oauth.add_static(token)
        self.event_requests = 0

    def connection_help(self, base_url: str) -> str:
        return (
            f"LinkedIn Conversions API sandbox at {base_url}\n"
            f"  config: base_url={base_url}/rest ad_account_id={self.config.ad_accounts[0]}\n"
            f"  credentials: access_token={self.config.access_tokens[0]}\n"
            f"  conversion rules {', '.join(self.config.conversion_rules)}"
        )

    def fault_body(self, status: int) -> Any:
        return {"status": status, "message": "injected fault"}

    def fault_headers(self, status: int) -> dict[str, str]:
        return {"Retry-After": "2"} if status == 429 else {}

    def _oauth_endpoint(self, call: Call) -> Response | None:
        """LinkedIn's OAuth 2.0 endpoints (www.linkedin.com): the consent page
        ``/oauth/v2/authorization``, ``/oauth/v2/accessToken`` and ``/oauth/v2/revoke``."""
        if call.method == "GET" and call.path == "/oauth/v2/authorization":
            return self.oauth.authorize(dict(call.query))
        if call.method != "POST" or call.path not in ("/oauth/v2/accessToken", "/oauth/v2/revoke"):
            return None
        form = {k: v[-1] for k, v in parse_qs(call.body.decode("utf-8", "replace")).items()}
        if call.path == "/oauth/v2/revoke":
            return self.oauth.revoke(form.get("token"))
        response = self.oauth.token(form, call.headers.get("authorization"))
        if response.status_code == 200:
            self.counters.tokens_issued += 1
        return response

    async def handle(self, call: Call) -> Response:
        if (answer := self._oauth_endpoint(call)) is not None:
            return answer
        token = bearer_token(call)
        if token is None:
            return _error(401, "Empty oauth2 access token", "EMPTY_ACCESS_TOKEN", 65600)
        if not self.oauth.valid(token):
            return _error(401, "Invalid access token", "INVALID_ACCESS_TOKEN", 65600)
        if call.headers.get("x-restli-protocol-version") != "2.0.0":
            return _error(400, "X-Restli-Protocol-Version: 2.0.0 is required")
        if not _VERSION.match(call.headers.get("linkedin-version", "")):
            return _error(400, "A LinkedIn-Version header (YYYYMM) is required", "VERSION_MISSING")
        now = self.clock.time()
        if self.window.is_full(now):
            self.violate(ViolationKind.RATE_LIMIT, call.path, "over the window")
            return _error(
                429,
                "Resource level throttle limit exceeded",
                headers={"Retry-After": str(up(self.window.retry_after(now)))},
            )
        self.window.add(now)
        await self.admitted()
        account = re.match(r"^/rest/adAccounts/(\d+)$", call.path)
        if account and call.method == "GET":
            if account.group(1) not in self.config.ad_accounts:
                return _error(404, f"Ad account {account.group(1)} not found")
            return JSONResponse(
                {"id": int(account.group(1)), "name": "Sandbox ad account", "status": "ACTIVE"}
            )
        if (call.method, call.path) != ("POST", "/rest/conversionEvents"):
            return _error(404, "No virtual resource found", "RESOURCE_NOT_FOUND")
        try:
            body = json_body(call)
        except BadBody as exc:
            return _error(400, exc.detail)
        self.event_requests += 1
        if call.headers.get("x-restli-method", "").upper() == "BATCH_CREATE":
            return self._batch(body)
        if not isinstance(body, dict):
            return _error(400, "the body is a conversion event")
        problem = self._problem(body)
        if problem is not None:
            return _error(problem[0], problem[1])
        self.events.append(body)
        return Response(status_code=201, headers={"x-restli-id": str(len(self.events))})

    def _batch(self, body: Any) -> Response:
        elements = body.get("elements") if isinstance(body, dict) else None
        if not isinstance(elements, list) or not elements:
            return _error(400, "elements is required for BATCH_CREATE")
        if len(elements) > self.config.max_batch:
            self.violate(
                ViolationKind.BATCH_SIZE, "BATCH_CREATE /conversionEvents", str(len(elements))
            )
            return _error(400, f"at most {self.config.max_batch} elements per batch")
        statuses: list[dict[str, Any]] = []
        for element in elements:
            problem = self._problem(element)
            if problem is None:
                self.events.append(element)
                statuses.append({"status": 201})
            else:
                status, message = problem
                statuses.append({"status": status, "error": {"status": status, "message": message}})
        return JSONResponse({"elements": statuses})

    def _problem(self, event: Any) -> tuple[int, str] | None:
        if not isinstance(event, dict):
            return (400, "a conversion event is an object")
        conversion = event.get("conversion")
        if not isinstance(conversion, str) or not conversion.startswith(_URN):
            return (400, f"conversion must be {_URN}{{id}}")
        if conversion[len(_URN) :] not in self.config.conversion_rules:
            return (404, f"conversion rule {conversion} not found")
        happened = event.get("conversionHappenedAt")
        now_ms = self.clock.time() * 1000
        if not isinstance(happened, int) or isinstance(happened, bool):
            return (400, "conversionHappenedAt must be epoch milliseconds")
        if happened < now_ms - _NINETY_DAYS_MS or happened > now_ms + 60_000:
            return (422, "conversionHappenedAt must be within the last 90 days")
        value = event.get("conversionValue")
        if value is not None and not _valid_amount(value):
            return (400, "conversionValue needs a currencyCode and the amount as a string")
        user = event.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("userIds"), list):
            return (422, "user.userIds is required (it may be empty when userInfo is given)")
        ids = user["userIds"]
        for identifier in ids:
            if not isinstance(identifier, dict) or identifier.get("idType") not in ID_TYPES:
                return (400, "unknown user id type")
            if identifier["idType"] == "SHA256_EMAIL" and not (
                isinstance(identifier.get("idValue"), str) and _HASH.match(identifier["idValue"])
            ):
                return (400, "SHA256_EMAIL must be a SHA-256 digest in lowercase hex")
        info = user.get("userInfo")
        named = isinstance(info, dict) and info.get("firstName") and info.get("lastName")
        if not ids and not named:
            return (422, "a user needs a user id, or userInfo with firstName and lastName")
        return None


def _valid_amount(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    currency, amount = value.get("currencyCode"), value.get("amount")
    if not (isinstance(currency, str) and len(currency) == 3 and isinstance(amount, str)):
        return False
    try:
        float(amount)
    except ValueError:
        return False
    return True


def _error(
    status: int,
    message: str,
    code: str | None = None,
    service_code: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"status": status, "message": message}
    if code is not None:
        body["code"] = code
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def create_linkedin_capi_app(
    config: LinkedInCapiSandboxConfig | None = None, clock: Clock | None = None
) -> LinkedInCapiSandbox:
    return LinkedInCapiSandbox(config or LinkedInCapiSandboxConfig(), clock or SystemClock())
