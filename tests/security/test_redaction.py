from __future__ import annotations

import io
import json
import sys

import structlog

from renkei.observability.logging import configure_logging
from renkei.security.redaction import REDACTED, redact, redact_headers


def test_secret_named_fields_and_secret_looking_values_are_redacted() -> None:
    value = {
        "url": "https://crm.example.com",
        "client_secret": "abc123",
        "headers": {"Authorization": "Bearer abcdefghijklmnop", "X-Trace": "1"},
        "note": "key whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw in text",
        "nested": [{"api_key": "k"}],
    }
    clean = redact(value)
    assert clean["client_secret"] == REDACTED
    assert clean["headers"]["Authorization"] == REDACTED
    assert clean["headers"]["X-Trace"] == "1"
    assert "whsec_" not in clean["note"]
    assert clean["nested"][0]["api_key"] == REDACTED
    assert redact("token is s3cr3t", known=frozenset({"s3cr3t"})) == f"token is {REDACTED}"
    assert redact_headers({"X-Api-Key": "k", "Accept": "a"}) == {
        "X-Api-Key": REDACTED,
        "Accept": "a",
    }


def test_log_lines_never_carry_secrets(monkeypatch: object) -> None:
    stream = io.StringIO()
    configure_logging("info", "json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(stream))
    log = structlog.get_logger("test")
    log.info("calling vendor", authorization="Bearer abcdefghijklmnop", url="https://x.test/?a=1")
    log.info("sent Basic dXNlcjpwYXNzd29yZA== to vendor")
    configure_logging("info", "json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["authorization"] == REDACTED
    assert "dXNlcjpwYXNzd29yZA" not in lines[1]["event"]
