"""Marketo's error model: response-level errors are HTTP 200 with ``success: false``;
record-level errors are ``reasons`` on a skipped record (Error Codes page)."""

from __future__ import annotations

from typing import Any

# Messages as the Error Codes page words them.
MESSAGES: dict[str, str] = {
    "502": "Bad Gateway",
    "600": "Access token not specified",
    "601": "Access token invalid",
    "602": "Access token expired",
    "603": "Access denied",
    "604": "Request time-out",
    "605": "HTTP Method not supported",
    "606": "Max rate limit '%s' exceeded with in '%s' secs",
    "607": "Daily quota reached",
    "608": "API Temporarily Unavailable",
    "609": "Invalid JSON",
    "610": "Requested resource not found",
    "611": "System error",
    "612": "Invalid Content Type",
    "613": "Invalid Multipart Request",
    "614": "Invalid Subscription",
    "615": "Concurrent access limit reached",
    "701": "%s cannot be blank",
    "702": "No data found for a given search scenario",
    "704": "Invalid date format",
    "713": "Transient Error",
    "1001": "Invalid value '%s'. Required of type '%s'",
    "1002": "Missing value for the required parameter '%s'",
    "1003": "Invalid data",
    "1004": "Lead not found",
    "1005": "Lead already exists",
    "1006": "Field '%s' not found",
    "1007": "Multiple leads match the lookup criteria",
    "1011": "Field '%s' not supported",
    "1012": "Invalid cookie value '%s'",
    "1013": "Object not found",
    "1049": "Failed to Create Activity",
}


def message(code: str, *args: object) -> str:
    template = MESSAGES.get(code, "Error")
    return template % args if args else template


class MarketoError(Exception):
    """A response-level error: the whole call fails and nothing was executed."""

    def __init__(self, code: str, text: str | None = None) -> None:
        super().__init__(text or message(code))
        self.code = code
        self.text = text or message(code)


def blank(name: str) -> MarketoError:
    return MarketoError("701", message("701", name))


def invalid_value(value: object, data_type: str) -> MarketoError:
    return MarketoError("1001", message("1001", value, data_type))


def reason(code: str, text: str | None = None) -> dict[str, str]:
    return {"code": code, "message": text or message(code)}


def skipped(code: str, text: str | None = None) -> dict[str, Any]:
    return {"status": "skipped", "reasons": [reason(code, text)]}
