"""HubSpot's error body (``Error`` in the spec): ``status``, ``message``,
``correlationId``, ``category`` and optional ``errors``/``context``/``links``."""

from __future__ import annotations

import json
import uuid
from typing import Any

from renkei.sandbox._common import Call, content_type


class HubSpotError(Exception):
    def __init__(
        self,
        status: int,
        category: str,
        text: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        context: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.category = category
        self.text = text
        self.errors = errors
        self.context = context
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.text,
            "correlationId": correlation_id(),
            "category": self.category,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        if self.context is not None:
            body["context"] = self.context
        body.update(self.extra)
        return body


def correlation_id() -> str:
    return str(uuid.uuid4())


def validation(text: str, **kwargs: Any) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", text, **kwargs)


def json_object(call: Call) -> dict[str, Any]:
    if call.body and content_type(call) not in ("application/json", ""):
        raise HubSpotError(
            415, "VALIDATION_ERROR", f"Unsupported content type: {content_type(call)}"
        )
    try:
        body = json.loads(call.body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise validation(f"Invalid input JSON: {exc}") from None
    if not isinstance(body, dict):
        raise validation("Invalid input JSON: expected an object")
    return body
