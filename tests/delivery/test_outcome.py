from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renkei.delivery import AttemptResult, ErrorKind, Outcome, OutcomeKind, classify
from renkei.egress.retry_after import parse_retry_after

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
SUCCESS, RETRY, DISABLE = OutcomeKind.SUCCESS, OutcomeKind.RETRY, OutcomeKind.DISABLE


def response(status: int, **headers: str) -> AttemptResult:
    return AttemptResult(
        url="https://example.com/h",
        request_headers={},
        status=status,
        response_headers={k.replace("_", "-"): v for k, v in headers.items()},
    )


def failure(kind: ErrorKind, message: str) -> AttemptResult:
    return AttemptResult(
        url="https://example.com/h", request_headers={}, error=message, error_kind=kind
    )


@pytest.mark.parametrize(
    ("result", "kind", "not_before"),
    [
        (response(200), SUCCESS, None),
        (response(204), SUCCESS, None),
        (response(299), SUCCESS, None),
        (response(301), RETRY, None),
        (response(302), RETRY, None),
        (response(304), RETRY, None),
        (response(410), DISABLE, None),
        (response(400), RETRY, None),
        (response(404), RETRY, None),
        (response(500), RETRY, None),
        (response(502, retry_after="30"), RETRY, None),  # only 429/503 carry Retry-After
        (response(503), RETRY, None),
        (response(503, retry_after="30"), RETRY, 30.0),
        (response(429, retry_after="0"), RETRY, 0.0),
        (response(429, retry_after=" 120 "), RETRY, 120.0),
        (response(429), RETRY, 60.0),
        (response(429, retry_after="soon"), RETRY, 60.0),
        (response(503, retry_after="soon"), RETRY, None),
        (response(429, retry_after="999999"), RETRY, 3600.0),
        (response(503, retry_after="Fri, 01 May 2026 12:05:00 GMT"), RETRY, 300.0),
        (response(429, retry_after="Fri, 01 May 2026 11:00:00 GMT"), RETRY, 0.0),
        (response(429, retry_after="Sat, 01 May 2027 12:00:00 GMT"), RETRY, 3600.0),
        (failure(ErrorKind.TIMEOUT, "timeout: no complete response within 15 s"), RETRY, 60.0),
        (failure(ErrorKind.CONNECTION_REFUSED, "connection refused"), RETRY, None),
        (failure(ErrorKind.DNS, "DNS failure"), RETRY, None),
        (failure(ErrorKind.TLS, "TLS error"), RETRY, None),
        (failure(ErrorKind.POLICY, "refused by policy"), RETRY, None),
        (failure(ErrorKind.INVALID_REQUEST, "invalid request"), RETRY, None),
    ],
)
def test_classify(result: AttemptResult, kind: OutcomeKind, not_before: float | None) -> None:
    outcome = classify(result, now=NOW)
    assert (outcome.kind, outcome.retry_not_before_seconds) == (kind, not_before)
    assert outcome.reason


def test_reasons_read_well() -> None:
    assert classify(response(200), now=NOW) == Outcome(SUCCESS, None, "HTTP 200")
    assert classify(response(410), now=NOW).reason == "HTTP 410 Gone: the endpoint is disabled"
    assert classify(response(302), now=NOW).reason == "HTTP 302: redirects are not followed"
    assert classify(response(429, retry_after="90"), now=NOW).reason == "HTTP 429, Retry-After 90 s"
    refused = failure(ErrorKind.CONNECTION_REFUSED, "connection refused by 10.0.0.1:443")
    assert classify(refused, now=NOW).reason == "connection refused by 10.0.0.1:443"


def test_bounds_are_settable() -> None:
    busy = response(429, retry_after="7200")
    assert classify(busy, now=NOW, max_retry_after=86400).retry_not_before_seconds == 7200
    assert classify(busy, now=NOW, max_retry_after=10).retry_not_before_seconds == 10
    slow = failure(ErrorKind.TIMEOUT, "timeout")
    assert classify(slow, now=NOW, overload_penalty=5).retry_not_before_seconds == 5
    assert classify(response(429), now=NOW, overload_penalty=0).retry_not_before_seconds == 0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("45", 45.0),
        ("Fri, 01 May 2026 12:01:30 GMT", 90.0),  # IMF-fixdate
        ("Friday, 01-May-26 12:01:30 GMT", 90.0),  # RFC 850
        ("Fri May  1 12:01:30 2026", 90.0),  # asctime, GMT by definition
        ("-5", None),
        ("1.5", None),
        ("", None),
        ("tomorrow", None),
        ("٣", None),  # non-ASCII digits are not delay-seconds
    ],
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds
