"""OneSignal: notifications (``POST /notifications``) and users (tags and properties).

Contract (documentation.onesignal.com/reference: create-message, update-user, create-user,
rate-limits): the host ``https://api.onesignal.com``; ``Authorization: Key <REST API key>``
(keys made before the user model: ``Basic <key>``).

- ``POST /notifications`` with the ``app_id`` and one targeting mode:
  ``include_aliases: {"external_id": [...]}`` with ``target_channel`` (at most 2,000
  aliases a request), or ``included_segments``. 200 ``{"id", "external_id"?, "errors"?}``;
  an empty ``id`` means nothing was sent (``errors`` says why), ``errors.invalid_aliases``
  lists the aliases that matched no subscribed user. An ``idempotency_key`` (a UUID) makes
  a retried request answer the first one's result instead of sending twice: Renkei always
  sends one.
- ``PATCH /apps/{app_id}/users/by/external_id/{id}`` ``{"properties": {"tags", ...}}``:
  202; 404 when no such user, which ``upsert_users`` then creates with
  ``POST /apps/{app_id}/users`` (201). A tag set to ``""`` is deleted.
- Limits: creating messages 150 requests a second per app on free plans (6,000 on paid);
  users 1,000 requests a second per app, 1 a second per user, at most 100 property changes
  per request; a 429 carries ``Retry-After`` (seconds).
- ``DELETE /apps/{app_id}/users/by/external_id/{id}`` (delete-user): the user with every
  alias, subscription and property; 200 ``{"identity": {"onesignal_id"}}`` once accepted
  (OneSignal deletes shortly after), 404 when no such user.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from renkei.clock import Clock
from renkei.connectors.auth import APIKeyAuth, Auth
from renkei.connectors.deletion import PersonDeletion, PersonIds
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RecordError,
    RetryableError,
)
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    Operation,
    OperationResult,
    RateLimitSpec,
    RecordOk,
    RecordResult,
)
from renkei.connectors.sync_objects import PushProfiles

__all__ = ["ALIASES_PER_REQUEST", "EXTERNAL_ID", "OneSignalConnector"]

ALIASES_PER_REQUEST = 2000
PROPERTIES_PER_REQUEST = 100
EXTERNAL_ID = "onesignal_external_id"
# User-level properties OneSignal has a field for; any other profile field becomes a tag.
_USER_PROPERTIES = ("language", "timezone_id", "country", "lat", "long", "first_active")
_TAGS: dict[str, Any] = {
    "type": "object",
    "maxProperties": PROPERTIES_PER_REQUEST,
    "additionalProperties": {"type": ["string", "number", "boolean"]},
}
NOTIFICATION_INPUT: dict[str, Any] = {
    "type": "object",
    "oneOf": [
        {
            "required": ["include_aliases", "target_channel"],
            "not": {"required": ["included_segments"]},
        },
        {"required": ["included_segments"], "not": {"required": ["include_aliases"]}},
    ],
    "anyOf": [{"required": ["contents"]}, {"required": ["template_id"]}],
    "properties": {
        "app_id": False,  # the connection's
        "contents": {"type": "object", "required": ["en"]},
        "headings": {"type": "object"},
        "template_id": {"type": "string"},
        "include_aliases": {
            "type": "object",
            "required": ["external_id"],
            "properties": {
                "external_id": {"type": "array", "minItems": 1, "items": {"type": "string"}}
            },
        },
        "target_channel": {"enum": ["push", "email", "sms"]},
        "included_segments": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "excluded_segments": {"type": "array", "items": {"type": "string"}},
        "idempotency_key": {"type": "string", "format": "uuid"},
        "data": {"type": "object"},
        "url": {"type": "string"},
    },
}
USER_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["external_id"],
    "anyOf": [{"required": ["tags"]}, {"required": ["properties"]}],
    "properties": {
        "external_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "tags": _TAGS,
        "properties": {"type": "object", "maxProperties": PROPERTIES_PER_REQUEST},
    },
}
PROFILE_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["email"],
    "maxProperties": PROPERTIES_PER_REQUEST,
    # A mapping may leave external_id empty (no user_id): the email stands in.
    "properties": {
        "email": {"type": "string"},
        "external_id": {"type": ["string", "null"], "maxLength": 128},
    },
}


DELETE_USERS_INPUT: dict[str, Any] = {
    "type": "object",
    "description": "Users to delete by External ID (one request each)",
    "required": ["external_ids"],
    "additionalProperties": False,
    "properties": {
        "external_ids": {
            "type": "array",
            "minItems": 1,
            "maxItems": PROPERTIES_PER_REQUEST,
            "items": {"type": "string", "minLength": 1, "maxLength": 128},
        }
    },
}


def _deletion_input(person: PersonIds) -> dict[str, Any] | None:
    """The External IDs Renkei may have used: the person's user ids, those syncs recorded,
    and emails (a sync push without external_id uses the email)."""
    ids = list(dict.fromkeys((*person.user_ids, *person.vendor(EXTERNAL_ID), *person.emails)))
    ids = [i for i in ids if len(i) <= 128][:PROPERTIES_PER_REQUEST]
    return {"external_ids": ids} if ids else None


def _chunk_key(key: str, position: int) -> str:
    """The idempotency key of the ``position``-th request of one notification."""
    return key if position == 0 else str(uuid.uuid5(uuid.NAMESPACE_OID, f"{key}/{position}"))


def _tag(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class OneSignalConnector(Connector):
    person_deletion = PersonDeletion("delete_users", _deletion_input)
    spec = ConnectorSpec(
        name="onesignal",
        title="OneSignal",
        docs_url="https://documentation.onesignal.com/reference",
        credentials=(
            Field("rest_api_key", "The app's REST API key (Settings → Keys & IDs)", secret=True),
        ),
        config=(
            Field("app_id", "The OneSignal app ID (a UUID)"),
            Field(
                "auth_scheme",
                "Key (current REST API keys) or Basic (legacy keys)",
                required=False,
                default="Key",
            ),
            Field(
                "base_url",
                "The API host, https://api.onesignal.com",
                required=False,
                default="https://api.onesignal.com",
            ),
        ),
        operations=(
            Operation(
                "create_notification",
                "Send a message to users by External ID (include_aliases + target_channel) or "
                "to segments; more than 2,000 External IDs go out as several requests",
                NOTIFICATION_INPUT,
                # Filled in when the message is submitted and stored with it, so the
                # queue's retry of a message whose answer was lost sends it once.
                id_field="idempotency_key",
            ),
            Operation(
                "upsert_users",
                "Set users' tags and properties by External ID, creating users OneSignal "
                "does not know yet",
                USER_RECORD,
                batchable=True,
                max_batch_size=PROPERTIES_PER_REQUEST,
            ),
            Operation(
                "set_user_tags",
                "A profile's fields as tags of the user whose External ID is external_id, "
                "else the email (what syncs push); language, timezone_id, country go to "
                "the user's properties",
                PROFILE_RECORD,
                batchable=True,
                max_batch_size=PROPERTIES_PER_REQUEST,
            ),
            Operation(
                "delete_users",
                "Delete users by External ID with their aliases, subscriptions and "
                "properties; answers how many OneSignal knew",
                DELETE_USERS_INPUT,
            ),
        ),
        rate_limit=RateLimitSpec(calls=1000, per_seconds=1.0, concurrency=20),
        rate_limit_pools={"notifications": RateLimitSpec(calls=150, per_seconds=1.0)},
    )
    sync_objects = (
        PushProfiles(
            "users", write="set_user_tags", identity=EXTERNAL_ID, batch_size=PROPERTIES_PER_REQUEST
        ),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "create message: 150 requests/s per app on free plans (6,000 on paid: raise the "
        "connection's notifications limit)",
        "users: 1,000 requests/s per app, 1 per second per user, 100 property changes each",
        "2,000 External IDs per create-message request",
        "a 429 carries Retry-After (seconds), which Renkei waits",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config.get("base_url") or "https://api.onesignal.com").rstrip("/")

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        scheme = str(connection.config.get("auth_scheme") or "Key").strip()
        if scheme not in ("Key", "Basic"):
            raise ConfigurationError("auth_scheme is Key or Basic", code="invalid_settings")
        return APIKeyAuth(
            connection.credentials["rest_api_key"], name="Authorization", prefix=f"{scheme} "
        )

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        status = response.status_code
        if status in (401, 403):
            return ConfigurationError(
                f"HTTP {status} from OneSignal {response.request.url.path}: the REST API key "
                "was refused (check the key, the app_id and auth_scheme)",
                code=str(status),
                status_code=status,
            )
        return None

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """Look up a user that cannot exist: 404 proves the key and the app id (a wrong key
        is a 401/403), and it records nothing."""
        try:
            await ctx.http.request("GET", self._user_path(ctx, "renkei-connection-test"),
                                   operation="test")  # fmt: skip
        except ConfigurationError:
            raise
        except PermanentError as exc:
            if exc.status_code != 404:
                raise
        return {"app_id": ctx.config["app_id"], "rest_api_key": "accepted"}

    def _user_path(self, ctx: CallContext, external_id: str) -> str:
        app = quote(str(ctx.config["app_id"]), safe="")
        return f"/apps/{app}/users/by/external_id/{quote(external_id, safe='')}"

    # --- operations --------------------------------------------------------------------

    async def delete_users(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        deleted = 0
        for external_id in dict.fromkeys(input["external_ids"]):
            try:
                await ctx.http.request(
                    "DELETE", self._user_path(ctx, str(external_id)), operation="delete_users"
                )
            except ConfigurationError:
                raise
            except PermanentError as exc:
                if exc.status_code != 404:  # no such user: nothing to delete
                    raise
                continue
            deleted += 1
        return OperationResult(data={"deleted": deleted})

    async def create_notification(
        self, input: Mapping[str, Any], ctx: CallContext
    ) -> OperationResult:
        key = str(input.get("idempotency_key") or uuid.uuid4())
        aliases = list((input.get("include_aliases") or {}).get("external_id") or [])
        parts = (
            [
                aliases[i : i + ALIASES_PER_REQUEST]
                for i in range(0, len(aliases), ALIASES_PER_REQUEST)
            ]
            if aliases
            else [[]]
        )
        sent: list[dict[str, Any]] = []
        invalid: list[str] = []
        problems: list[str] = []
        for position, part in enumerate(parts):
            body = {
                **input,
                "app_id": ctx.config["app_id"],
                "idempotency_key": _chunk_key(key, position),
            }
            if part:
                body["include_aliases"] = {"external_id": part}
            response = await ctx.http.request(
                "POST", "/notifications", operation="create_notification", json=body,
                pool="notifications",
            )  # fmt: skip
            answer = response.json()
            errors = answer.get("errors")
            if isinstance(errors, dict):
                invalid += list((errors.get("invalid_aliases") or {}).get("external_id") or [])
            elif isinstance(errors, list):
                problems += [str(e) for e in errors]
            if answer.get("id"):
                sent.append({"id": answer["id"], "idempotency_key": body["idempotency_key"]})
        if not sent:
            raise PermanentError(
                f"OneSignal sent nothing: {'; '.join(problems) or 'no subscribed recipient'}",
                code="no_recipients",
            )
        return OperationResult(
            data={"notifications": sent, "invalid_external_ids": invalid, "errors": problems}
        )

    async def upsert_users(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        # One request per user; OneSignal allows one a second per user, so a batch that
        # names a user twice sends the merged change once.
        merged: dict[str, dict[str, Any]] = {}
        owners: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            external_id = str(record["external_id"])
            properties = merged.setdefault(external_id, {})
            given = dict(record.get("properties") or {})
            tags = {**(properties.get("tags") or {}), **(given.pop("tags", None) or {})}
            tags.update({k: _tag(v) for k, v in (record.get("tags") or {}).items()})
            properties.update(given)
            if tags:
                properties["tags"] = tags  # a copy: the caller's records stay as they were
            owners.setdefault(external_id, []).append(index)
        results: dict[int, RecordResult] = {}
        failed: ConnectorError | None = None
        for external_id, properties in merged.items():
            indices = owners[external_id]
            if failed is not None:
                results.update(_errors(indices, failed, retryable=True))
                continue
            try:
                outcome = await self._upsert(ctx, external_id, properties)
            except ConfigurationError:
                raise
            except PermanentError as exc:
                results.update(_errors(indices, exc, retryable=False))
                continue
            except (RetryableError, QuotaExhaustedError) as exc:
                if not results:
                    raise  # nothing sent yet: the whole call is safely retried
                failed = exc
                results.update(_errors(indices, exc, retryable=True))
                continue
            results.update({i: RecordOk(i, id=external_id, status=outcome) for i in indices})
        return OperationResult(records=tuple(results[i] for i in sorted(results)))

    async def _upsert(self, ctx: CallContext, external_id: str, properties: dict[str, Any]) -> str:
        try:
            await ctx.http.request(
                "PATCH", self._user_path(ctx, external_id), operation="upsert_users",
                json={"properties": properties},
            )  # fmt: skip
            return "updated"
        except PermanentError as exc:
            if exc.status_code != 404:
                raise
        app = quote(str(ctx.config["app_id"]), safe="")
        await ctx.http.request(
            "POST", f"/apps/{app}/users", operation="upsert_users",
            json={"identity": {"external_id": external_id}, "properties": properties},
        )  # fmt: skip
        return "created"

    async def set_user_tags(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        users = []
        for record in records:
            properties = {k: record[k] for k in _USER_PROPERTIES if record.get(k) is not None}
            tags = {
                k: _tag(v)
                for k, v in record.items()
                if k not in ("external_id", "email", *_USER_PROPERTIES) and v is not None
            }
            user: dict[str, Any] = {
                "external_id": str(record.get("external_id") or record["email"])
            }
            user["properties"] = properties
            if tags:
                user["tags"] = tags
            users.append(user)
        return await self.upsert_users(users, ctx)


def _errors(
    indices: Sequence[int], exc: ConnectorError, *, retryable: bool
) -> dict[int, RecordResult]:
    code = exc.code or "rejected"
    message = exc.message if not retryable else f"not sent: {exc.message}"
    return {i: RecordError(i, code, message, retryable=retryable) for i in indices}
