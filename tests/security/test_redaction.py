from __future__ import annotations

import io
import json
import sys

import structlog

from renkei.observability.logging import configure_logging
from renkei.security.redaction import REDACTED, redact, redact_header_values, redact_headers


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
    # Fail closed: only what Renkei sets itself is shown, whatever a configured header's name.
    assert redact_headers(
        {
            "X-Api-Key": "k",
            "X-Partner-Id": "p-123",
            "Accept": "a",
            "webhook-id": "evt_1",
            "content-type": "application/json",
            "user-agent": "Renkei-Webhooks/1.0",
        }
    ) == {
        "X-Api-Key": REDACTED,
        "X-Partner-Id": REDACTED,
        "Accept": REDACTED,
        "webhook-id": "evt_1",
        "content-type": "application/json",
        "user-agent": "Renkei-Webhooks/1.0",
    }
    assert redact_headers({"User-Agent": "partner-key-123"}) == {"User-Agent": REDACTED}
    assert redact_header_values({"X-Partner-Id": "p-123"}) == {"X-Partner-Id": REDACTED}


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


def test_one_rule_names_the_secrets_for_every_caller() -> None:
    """Connectors redacted ``Idempotency-Key`` in their logs and ``security/`` did not: one
    rule now, in ``security/redaction.py``, that connectors use too."""
    from renkei.connectors import http as connector_http
    from renkei.security.redaction import is_secret_name

    for name in ("Idempotency-Key", "X-Partner-Key", "X-API-Key", "access_key", "hapikey"):
        assert is_secret_name(name), name
    for name in ("key", "ordering_key", "dedupe_key", "Content-Type", "webhook-id"):
        assert not is_secret_name(name), name
    assert connector_http.is_secret_name is is_secret_name
    assert redact({"headers": {"Idempotency-Key": "evt_1"}}) == {
        "headers": {"Idempotency-Key": "[redacted]"}
    }
