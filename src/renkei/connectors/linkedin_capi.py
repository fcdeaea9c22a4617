"""LinkedIn Conversions API: online and offline conversions for a conversion rule.

Contract (learn.microsoft.com/linkedin/marketing/integrations/ads-reporting/conversions-api):

- ``POST https://api.linkedin.com/rest/conversionEvents`` with ``Authorization: Bearer``
  (a member token with ``rw_conversions``), ``LinkedIn-Version: YYYYMM`` and
  ``X-Restli-Protocol-Version: 2.0.0``. One event answers 201; several are one
  ``X-RestLi-Method: BATCH_CREATE`` call ``{"elements": [...]}`` answered with one
  ``{"status"}`` per element (201, or an error status and ``error`` for that element).
  At most 5,000 events per batch.
- An event: ``conversion`` (``urn:lla:llaPartnerConversion:{id}``), ``conversionHappenedAt``
  (epoch milliseconds, within the last 90 days), ``conversionValue``
  (``{"currencyCode", "amount"}`` with the amount as a string), ``eventId`` for
  deduplication with the Insight Tag, and ``user``: ``userIds`` (always present, possibly
  empty) of ``SHA256_EMAIL`` (SHA-256 of the trimmed, lowercased email),
  ``LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID``, ``ACXIOM_ID`` or ``ORACLE_MOAT_ID``, and
  ``userInfo`` (first and last name together, title, company, country).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from renkei.clock import Clock
from renkei.connectors._ads import unix_ms
from renkei.connectors._vendor import run_chunks
from renkei.connectors.auth import Auth, BearerAuth
from renkei.connectors.errors import ConfigurationError, RecordError
from renkei.connectors.oauth import (
    OAUTH_CLIENT_FIELDS,
    OAUTH_CONFIG_FIELDS,
    ExpiringTokenAuth,
    OAuthProvider,
    oauth_refresh_auth,
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
from renkei.expr.identifiers import hash_email

__all__ = ["EVENTS_PER_BATCH", "ID_TYPES", "LinkedInConversionsConnector"]

EVENTS_PER_BATCH = 5000
ID_TYPES = (
    "SHA256_EMAIL",
    "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
    "ACXIOM_ID",
    "ORACLE_MOAT_ID",
)
_URN = "urn:lla:llaPartnerConversion:"
CONVERSION_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["conversion", "conversionHappenedAt"],
    "anyOf": [{"required": ["user"]}, {"required": ["email"]}],
    "properties": {
        "conversion": {
            "type": ["string", "integer"],
            "description": "conversion rule id or urn:lla:llaPartnerConversion:{id}",
        },
        "conversionHappenedAt": {
            "type": ["integer", "string"],
            "description": "epoch milliseconds or ISO 8601; sent as milliseconds",
        },
        "conversionValue": {
            "type": "object",
            "required": ["currencyCode", "amount"],
            "properties": {
                "currencyCode": {"type": "string", "minLength": 3, "maxLength": 3},
                "amount": {"type": ["string", "number"]},
            },
        },
        "eventId": {"type": "string", "minLength": 1},
        "email": {"type": "string", "description": "plain (hashed here) or SHA-256"},
        "user": {
            "type": "object",
            "properties": {
                "userIds": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["idType", "idValue"],
                        "properties": {
                            "idType": {"enum": list(ID_TYPES)},
                            "idValue": {"type": "string", "minLength": 1},
                        },
                    },
                },
                "userInfo": {"type": "object"},
            },
        },
    },
    "additionalProperties": False,
}


class LinkedInConversionsConnector(Connector):
    # learn.microsoft.com/linkedin/shared/authentication/authorization-code-flow: client
    # credentials in the form body; refresh tokens only for approved partner apps; PKCE is
    # documented for native clients only.
    oauth = OAuthProvider(
        authorize_endpoint="https://www.linkedin.com/oauth/v2/authorization",
        exchange_endpoint="https://www.linkedin.com/oauth/v2/accessToken",
        scopes=("rw_conversions", "r_ads"),
        pkce=False,
    )
    spec = ConnectorSpec(
        name="linkedin_capi",
        title="LinkedIn Conversions API",
        docs_url=(
            "https://learn.microsoft.com/linkedin/marketing/integrations/ads-reporting/"
            "conversions-api"
        ),
        credentials=(
            Field(
                "access_token",
                "OAuth 2.0 member access token with rw_conversions (and r_ads); or leave it "
                "out and Connect",
                secret=True,
                required=False,
            ),
            *OAUTH_CLIENT_FIELDS,
        ),
        config=(
            Field("ad_account_id", "Sponsored ad account id the conversion rules belong to"),
            Field(
                "linkedin_version",
                "LinkedIn-Version header (YYYYMM); versions are supported for a year",
                required=False,
                default="202611",
            ),
            Field(
                "base_url",
                "REST host (a sandbox's URL in tests)",
                required=False,
                default="https://api.linkedin.com/rest",
            ),
            *OAUTH_CONFIG_FIELDS,
        ),
        operations=(
            Operation(
                "send_conversion_events",
                "Conversion events for conversion rules; an email is hashed as SHA256_EMAIL "
                "unless already hashed; up to 5,000 per BATCH_CREATE, results per event.",
                CONVERSION_EVENT,
                batchable=True,
                max_batch_size=EVENTS_PER_BATCH,
                id_field="eventId",  # LinkedIn deduplicates on it
            ),
        ),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "5,000 events per BATCH_CREATE request",
        "Events older than 90 days are rejected",
        "Application and member daily limits (Developer Portal) reset at midnight UTC; "
        "429 is retried, honouring Retry-After",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config["base_url"]).rstrip("/")

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        assert self.oauth is not None
        refreshing = oauth_refresh_auth(self.oauth, connection, clock)
        if refreshing is not None:
            return refreshing
        if not connection.credentials.get("access_token"):
            raise ConfigurationError(
                "linkedin_capi: give access_token or Connect with OAuth", code="not_connected"
            )
        # Without a refresh token (apps not approved for programmatic refresh) the token
        # from Connect lasts 60 days; past its end the user connects again.
        return ExpiringTokenAuth(
            BearerAuth(connection.credentials["access_token"]), connection.credentials, clock
        )

    @staticmethod
    def _headers(ctx: CallContext, batch: bool = False) -> dict[str, str]:
        headers = {
            "LinkedIn-Version": str(ctx.config["linkedin_version"]),
            "X-Restli-Protocol-Version": "2.0.0",
        }
        if batch:
            headers["X-RestLi-Method"] = "BATCH_CREATE"
        return headers

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """``GET /adAccounts/{id}``: proves the token reaches the ad account."""
        account = str(ctx.config["ad_account_id"])
        response = await ctx.http.request(
            "GET", f"/adAccounts/{account}", operation="test", headers=self._headers(ctx)
        )
        body = response.json()
        return {"ad_account_id": account, "name": body.get("name"), "status": body.get("status")}

    async def send_conversion_events(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        results: dict[int, RecordResult] = {}
        events: dict[int, dict[str, Any]] = {}
        for index, record in enumerate(records):
            try:
                events[index] = _conversion_event(record)
            except ValueError as exc:
                results[index] = RecordError(index, "invalid_input", str(exc))
        valid = sorted(events)
        chunks = [
            valid[start : start + EVENTS_PER_BATCH]
            for start in range(0, len(valid), EVENTS_PER_BATCH)
        ]

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            if len(chunk) == 1:
                await ctx.http.request(
                    "POST",
                    "/conversionEvents",
                    operation="send_conversion_events",
                    json=events[chunk[0]],
                    headers=self._headers(ctx),
                )
                return {chunk[0]: RecordOk(chunk[0], status="created")}
            response = await ctx.http.request(
                "POST",
                "/conversionEvents",
                operation="send_conversion_events",
                json={"elements": [events[i] for i in chunk]},
                headers=self._headers(ctx, batch=True),
            )
            elements = response.json().get("elements") or []
            out: dict[int, RecordResult] = {}
            for position, index in enumerate(chunk):
                element = elements[position] if position < len(elements) else {}
                status = element.get("status") if isinstance(element, dict) else None
                if isinstance(status, int) and 200 <= status < 300:
                    out[index] = RecordOk(index, status="created")
                else:
                    error = element.get("error") if isinstance(element, dict) else None
                    message = (
                        str(error.get("message"))
                        if isinstance(error, dict) and error.get("message")
                        else "LinkedIn reported no status for it"
                    )
                    out[index] = RecordError(index, str(status or "missing_status"), message)
            return out

        results.update(await run_chunks(chunks, send))
        return OperationResult(
            records=tuple(results[i] for i in sorted(results)), data={"requests": len(chunks)}
        )


def _conversion_event(record: Mapping[str, Any]) -> dict[str, Any]:
    conversion = str(record["conversion"]).strip()
    if conversion.isdigit():
        conversion = _URN + conversion
    if not conversion.startswith(_URN) or not conversion[len(_URN) :].isdigit():
        raise ValueError(f"conversion must be a rule id or {_URN}{{id}}")
    event: dict[str, Any] = {
        "conversion": conversion,
        "conversionHappenedAt": unix_ms(record["conversionHappenedAt"]),
    }
    if value := record.get("conversionValue"):
        event["conversionValue"] = {
            "currencyCode": str(value["currencyCode"]).upper(),
            "amount": str(value["amount"]),
        }
    if record.get("eventId"):
        event["eventId"] = record["eventId"]
    user = dict(record.get("user") or {})
    ids = [dict(i) for i in user.get("userIds") or []]
    for identifier in ids:
        if identifier["idType"] == "SHA256_EMAIL":
            identifier["idValue"] = hash_email(identifier["idValue"], "linkedin")
    if record.get("email"):
        hashed = hash_email(str(record["email"]), "linkedin")
        if not any(i == {"idType": "SHA256_EMAIL", "idValue": hashed} for i in ids):
            ids.insert(0, {"idType": "SHA256_EMAIL", "idValue": hashed})
    user["userIds"] = ids
    event["user"] = user
    return event
