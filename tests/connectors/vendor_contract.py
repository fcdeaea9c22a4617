"""Check the requests a connector sends against the vendor's own API description
(tests/support/vendor_specs.py): the path and method exist, the query names only declared
parameters and has the required ones, and the JSON body validates against the schema.

Two quirks of the Marketo spec are patched, as in tests/sandbox/spec.py: an activity
``Attribute.value`` is typed ``object`` but is a string or number, and ``CustomActivity``
lists the response-only ``id`` and ``errors`` as required.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jsonschema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support.vendor_specs import load_spec


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    body: bytes


class Recorder:
    """An ASGI wrapper that remembers every request before passing it on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[Recorded] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = parse_qsl(scope["query_string"].decode(), keep_blank_values=True)
        self.requests.append(Recorded(scope["method"], scope["path"], query, body))

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _load(relative: str) -> dict[str, Any]:
    return load_spec(relative)


def _marketo_definitions() -> dict[str, Any]:
    definitions = copy.deepcopy(_load("marketo/swagger-mapi.json")["definitions"])
    definitions["Attribute"]["properties"]["value"] = {}
    activity = definitions["CustomActivity"]
    activity["required"] = [r for r in activity["required"] if r not in ("id", "errors")]
    return dict(definitions)


def _templated(paths: dict[str, Any], path: str) -> dict[str, Any]:
    """The spec's entry for ``path``: an exact key, else a template such as
    ``/rest/v1/leads/{leadId}/associate.json`` whose parameters match one segment each."""
    if path in paths:
        return dict(paths[path])
    for template, entry in paths.items():
        pattern = re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template))
        if "{" in template and re.fullmatch(pattern, path):
            return dict(entry)
    return {}


def check_marketo(request: Recorded) -> None:
    spec_file = (
        "marketo/swagger-identity.json"
        if request.path.startswith("/identity")
        else ("marketo/swagger-mapi.json")
    )
    spec = _load(spec_file)
    operation = _templated(spec["paths"], request.path).get(request.method.lower())
    assert operation is not None, f"{request.method} {request.path} is not in {spec_file}"
    parameters = operation.get("parameters", [])
    declared = {p["name"] for p in parameters if p["in"] == "query"}
    sent = {name for name, _ in request.query}
    assert sent <= declared, f"{request.path}: undeclared query parameters {sent - declared}"
    for parameter in parameters:
        if parameter["in"] == "query" and parameter.get("required"):
            assert parameter["name"] in sent, f"{request.path}: {parameter['name']} missing"
        if parameter["in"] == "body":
            definitions = (
                _marketo_definitions() if spec_file.endswith("mapi.json") else spec["definitions"]
            )
            schema = {**parameter["schema"], "definitions": definitions}
            jsonschema.Draft4Validator(schema).validate(json.loads(request.body))


def check_hubspot(request: Recorded) -> None:
    spec_file = (
        "hubspot/send-event-completions-v3.json"
        if request.path.startswith("/events/")
        else "hubspot/contacts-v3.json"
    )
    spec = _load(spec_file)
    operation = spec["paths"].get(request.path, {}).get(request.method.lower())
    assert operation is not None, f"{request.method} {request.path} is not in {spec_file}"
    declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    sent = {name for name, _ in request.query}
    assert sent <= declared, f"{request.path}: undeclared query parameters {sent - declared}"
    body_spec = operation.get("requestBody")
    if body_spec is None:
        assert not request.body
        return
    schema = body_spec["content"]["application/json"]["schema"]
    document = {**schema, "components": spec["components"]}
    jsonschema.Draft7Validator(document).validate(json.loads(request.body))
