"""Validate sandbox responses against the vendors' own specs (tests/support/vendor_specs.py).

Two spec quirks are patched, both where the vendors' documented responses disagree with
their machine-readable schema: Marketo's activity ``Attribute.value`` is typed ``object``
but documented (and returned) as a string or number, and HubSpot returns ``null`` for a
requested property without a value although the schema types values as strings.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from tests.support.vendor_specs import load_spec


def _load(relative: str) -> dict[str, Any]:
    return load_spec(relative)


def _marketo_definitions() -> dict[str, Any]:
    definitions = copy.deepcopy(_load("marketo/swagger-mapi.json")["definitions"])
    definitions["Attribute"]["properties"]["value"] = {}
    return dict(definitions)


def _hubspot_schemas(file: str) -> dict[str, Any]:
    schemas = copy.deepcopy(_load(f"hubspot/{file}")["components"]["schemas"])
    for schema in schemas.values():
        properties = schema.get("properties", {}).get("properties")
        if properties and properties.get("additionalProperties", {}).get("type") == "string":
            properties["additionalProperties"] = {"type": ["string", "null"]}
    return dict(schemas)


def assert_marketo(instance: Any, definition: str) -> None:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": _marketo_definitions()}
    jsonschema.Draft4Validator(schema).validate(instance)


def assert_marketo_identity(instance: Any) -> None:
    definitions = _load("marketo/swagger-identity.json")["definitions"]
    schema = {"$ref": "#/definitions/ResponseOfIdentity", "definitions": definitions}
    jsonschema.Draft4Validator(schema).validate(instance)


def assert_hubspot(instance: Any, schema_name: str, file: str = "contacts-v3.json") -> None:
    schema = {
        "$ref": f"#/components/schemas/{schema_name}",
        "components": {"schemas": _hubspot_schemas(file)},
    }
    jsonschema.Draft7Validator(schema).validate(instance)
