"""The OpenAPI document: FastAPI's description of the management API, completed.

FastAPI describes the routes it serves. This module adds what it cannot see and what it
gets wrong for Renkei:

- the tracking API (``POST /v1/identify|track|page|screen|group|alias|batch``), served by
  :class:`renkei.api.ingest.IngestFastPath` before FastAPI, and the inbound webhooks
  (``/hooks/{source_id}``), a plain route kept out of FastAPI's schema;
- the error responses each operation can return, all in the one error shape
  (``components.schemas.Error``), instead of FastAPI's ``HTTPValidationError``;
- the security schemes: a bearer token for ``/api/v1``, a write key for ``/v1``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["ERROR_STATUSES", "install_openapi", "openapi_document"]

_REF = "#/components/responses/"
_WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["not_found"]},
                "message": {"type": "string"},
                "details": {"description": "What went wrong, when there is more to say."},
            },
        }
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}

# status: (name of the reusable response, description, headers)
ERROR_STATUSES: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: (
        "BadRequest",
        "Bad input: a body that is not JSON (or nests too deep), a bad query parameter.",
        {},
    ),
    401: (
        "Unauthorized",
        "No credentials, or credentials that are invalid or revoked.",
        {
            "WWW-Authenticate": {
                "description": "The scheme to authenticate with.",
                "schema": {"type": "string"},
            }
        },
    ),
    403: ("Forbidden", "The credentials do not allow this (token scope, disabled source).", {}),
    404: ("NotFound", "No such object.", {}),
    409: ("Conflict", "The name or id is taken, or the object's state forbids the change.", {}),
    413: ("PayloadTooLarge", "The request body is over the size limit.", {}),
    415: (
        "UnsupportedMediaType",
        "The Content-Type is not one this operation reads (the message names the header).",
        {},
    ),
    422: ("ValidationFailed", "The input is well-formed but invalid; details name the fields.", {}),
    429: ("RateLimited", "Too many requests; Retry-After says when to try again.", _RETRY_AFTER),
    503: (
        "Unavailable",
        "The database is unreachable or the server is overloaded; try again after Retry-After.",
        _RETRY_AFTER,
    ),
}

_SECURITY_SCHEMES: dict[str, Any] = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`renkei token create`) or RENKEI_ADMIN_TOKEN.",
    },
    "writeKey": {
        "type": "http",
        "scheme": "basic",
        "description": "A tracking source's write key as the username, no password "
        "(or `writeKey` in the body), as Segment's SDKs send it.",
    },
}


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`openapi_document` at ``app.openapi_url`` (built once, on first request)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["responses"] = {
        name: {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            **({"headers": headers} if headers else {}),
        }
        for name, description, headers in ERROR_STATUSES.values()
    }
    components["securitySchemes"] = _SECURITY_SCHEMES
    paths: dict[str, dict[str, Any]] = document.setdefault("paths", {})
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path.startswith("/api/"):
                operation["security"] = [{"bearerToken": []}]
                _management_errors(path, method, operation)
    _health(paths)
    paths.update(_tracking_paths())
    paths.update(_hook_paths())
    return document


def _errors(operation: dict[str, Any], statuses: set[int]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": _REF + ERROR_STATUSES[status][0]}


def _management_errors(path: str, method: str, operation: dict[str, Any]) -> None:
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    # A route declares an error the rules below cannot guess with ``responses={404: {}}``.
    declared = {int(status) for status in operation.get("responses", {}) if status.isdigit()}
    statuses = {401, 403, 503} | (declared & set(ERROR_STATUSES))
    if parameters or has_body:
        statuses |= {400, 422}
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if method in _WRITE_METHODS:
        statuses |= {409, 429}
    if has_body:
        statuses |= {413, 415}
    _errors(operation, statuses)


def _health(paths: dict[str, dict[str, Any]]) -> None:
    ready = paths.get("/readyz", {}).get("get")
    if ready is not None:
        ready["responses"]["200"]["content"] = _json(
            {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string", "enum": ["ready"]}},
            }
        )
        _errors(ready, {503})
    metrics = paths.get("/metrics", {}).get("get")
    if metrics is not None:
        metrics["responses"]["200"] = {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
_OPTIONAL_STRING: dict[str, Any] = {"type": ["string", "null"]}
_COMMON_FIELDS: dict[str, Any] = {
    "userId": {**_OPTIONAL_STRING, "description": "Your id for the person."},
    "anonymousId": {**_OPTIONAL_STRING, "description": "A device or session id."},
    "messageId": {
        "type": "string",
        "description": "Dedupe key: a message id already stored is dropped.",
    },
    "timestamp": {"type": "string", "description": "When it happened (ISO 8601)."},
    "sentAt": {"type": "string", "description": "When the SDK sent it; corrects device clocks."},
    "context": _ANY_OBJECT,
    "integrations": _ANY_OBJECT,
    "writeKey": {"type": "string", "description": "The write key, if not sent as Basic auth."},
}
_MESSAGES: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "identify": ("Who the person is, and their traits.", {"traits": _ANY_OBJECT}, []),
    "track": (
        "Something the person did.",
        {"event": {"type": "string", "minLength": 1}, "properties": _ANY_OBJECT},
        ["event"],
    ),
    "page": (
        "A page view.",
        {"name": {"type": "string"}, "category": {"type": "string"}, "properties": _ANY_OBJECT},
        [],
    ),
    "screen": (
        "A screen view in an app.",
        {"name": {"type": "string"}, "category": {"type": "string"}, "properties": _ANY_OBJECT},
        [],
    ),
    "group": (
        "The person belongs to a group (an account, a company).",
        {"groupId": {"type": "string"}, "traits": _ANY_OBJECT},
        ["groupId"],
    ),
    "alias": (
        "Two ids are the same person.",
        {"previousId": {"type": "string"}},
        ["previousId", "userId"],
    ),
}
_SUCCESS: dict[str, Any] = {
    "type": "object",
    "required": ["success"],
    "properties": {"success": {"type": "boolean", "enum": [True]}},
}


def _message_schema(
    description: str, fields: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description + " userId or anonymousId is required.",
        "properties": {**_COMMON_FIELDS, **fields},
        "required": required,
        "additionalProperties": True,
    }


def _tracking_paths() -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for name, (description, fields, required) in _MESSAGES.items():
        schema = _message_schema(description, fields, required)
        paths[f"/v1/{name}"] = {"post": _tracking_operation(name, description, schema)}
    item = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string", "enum": sorted(_MESSAGES)}, **_COMMON_FIELDS},
        "additionalProperties": True,
    }
    batch = {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "items": item},
            "context": _ANY_OBJECT,
            "integrations": _ANY_OBJECT,
            "writeKey": _COMMON_FIELDS["writeKey"],
            "sentAt": _COMMON_FIELDS["sentAt"],
        },
        "additionalProperties": True,
    }
    paths["/v1/batch"] = {
        "post": _tracking_operation("batch", "Many messages of any type at once.", batch)
    }
    return paths


def _tracking_operation(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": ["tracking"],
        "summary": f"Segment {name}",
        "description": description
        + " Segment-compatible: any Segment SDK can send here. The answer comes once the "
        "events are stored. Bodies may be gzipped (Content-Encoding: gzip); browsers may send "
        "text/plain.",
        "operationId": f"tracking_{name}",
        "security": [{"writeKey": []}, {}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}, "text/plain": {"schema": schema}},
        },
        "responses": {
            "200": {"description": "Stored.", "content": _json(_SUCCESS)},
        },
    }
    _errors(operation, {400, 401, 403, 413, 415, 503})
    return operation


def _hook_paths() -> dict[str, dict[str, Any]]:
    parameter = {
        "name": "source_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "The webhook source (`src_...`).",
    }
    received = {
        "type": "object",
        "required": ["success", "event_ids"],
        "properties": {
            "success": {"type": "boolean", "enum": [True]},
            "event_ids": {"type": "array", "items": {"type": "string"}},
        },
    }

    def receive(method: str) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "tags": ["hooks"],
            "summary": "Receive a vendor webhook",
            "description": "Verified with the source's scheme (Stripe, Standard Webhooks, "
            "HMAC...), kept, and mapped to events. Any content type.",
            "operationId": f"hook_{method}",
            "parameters": [parameter],
            "requestBody": {
                "required": False,
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {"200": {"description": "Received.", "content": _json(received)}},
        }
        _errors(operation, {400, 401, 403, 404, 413, 415, 422, 503})
        return operation

    validate: dict[str, Any] = {
        "tags": ["hooks"],
        "summary": "Validate a webhook URL",
        "description": "Vendors check a URL this way: answers 200 and stores nothing; "
        "a `challenge` or `hub.challenge` query parameter is echoed back as text.",
        "operationId": "hook_get",
        "parameters": [
            parameter,
            {"name": "challenge", "in": "query", "required": False, "schema": {"type": "string"}},
            {
                "name": "hub.challenge",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": {
                "description": "The URL is a live source.",
                "content": {
                    **_json(_SUCCESS),
                    "text/plain": {"schema": {"type": "string"}},
                },
            }
        },
    }
    _errors(validate, {403, 404, 503})
    return {"/hooks/{source_id}": {"get": validate, "post": receive("post"), "put": receive("put")}}
