"""Check requests a Klaviyo client sent against Klaviyo's own OpenAPI files
(``klaviyo/`` in tests/support/vendor_specs.py's search path, from klaviyo/openapi). OpenAPI 3.0's ``nullable`` is
turned into JSON Schema's ``null`` type; everything else is used as published."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import jsonschema

from renkei.sandbox._common import Call
from tests.support.vendor_specs import load_spec

FILES = {
    ("POST", "/api/profile-import"): "create_or_update_profile.json",
    ("POST", "/api/events"): "create_event.json",
    ("POST", "/api/profile-bulk-import-jobs"): "bulk_import_profiles.json",
    ("GET", "/api/profiles"): "get_profiles.json",
}
_REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")


def _load(file: str) -> dict[str, Any]:
    return load_spec(f"klaviyo/{file}")


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _operation(method: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = _load(FILES[(method, path)])
    return spec["paths"][path][method.lower()], spec


def validate_body(method: str, path: str, body: Any) -> None:
    operation, spec = _operation(method, path)
    media = operation["requestBody"]["content"]["application/vnd.api+json"]
    schema = {**media["schema"], "components": _nullable(spec["components"])}
    jsonschema.Draft7Validator(_nullable(schema)).validate(body)


def validate_response(method: str, path: str, status: int, body: Any) -> None:
    operation, spec = _operation(method, path)
    answer = operation["responses"][str(status)]
    media = answer["content"]["application/vnd.api+json"]
    schema = {**media["schema"], "components": _nullable(spec["components"])}
    jsonschema.Draft7Validator(_nullable(schema)).validate(body)


def validate_request(call: Call) -> None:
    """Headers, body and query of one request, as the operation in the spec describes."""
    key = (call.method, call.path.rstrip("/"))
    if key not in FILES:
        return  # job status endpoints: not among the published files here
    operation, _ = _operation(*key)
    assert call.headers.get("authorization", "").startswith("Klaviyo-API-Key ")
    assert _REVISION.match(call.headers.get("revision", "")), call.headers
    if call.method == "POST":
        assert call.headers["content-type"].startswith("application/vnd.api+json")
        validate_body(call.method, key[1], json.loads(call.body))
        return
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    for name, value in call.query.multi_items():
        assert name in parameters, f"{name} is not a parameter of {key}"
        schema = parameters[name]["schema"]
        if schema.get("type") == "integer":
            jsonschema.validate(int(value), schema)
        elif schema.get("type") == "string":
            jsonschema.validate(value, schema)


def validate_all(calls: Iterable[Call]) -> int:
    """Validate every request; how many were checked against a spec."""
    checked = 0
    for call in calls:
        if (call.method, call.path.rstrip("/")) in FILES:
            validate_request(call)
            checked += 1
    return checked
