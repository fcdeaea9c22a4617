from __future__ import annotations

import base64
import gzip
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renkei.events import (
    BadRequest,
    IngestError,
    InvalidEvent,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from renkei.events.segment import (
    ENDPOINTS,
    Limits,
    correct_timestamp,
    decode_body,
    extract_write_key,
    to_events,
)

RECEIVED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"evt_{next(counter):04}"


def ingest(endpoint: str, payload: dict[str, Any], **kwargs: Any) -> Any:
    kwargs.setdefault("new_id", ids())
    return to_events(endpoint, payload, source_id="src_1", received_at=RECEIVED, **kwargs)


def one(endpoint: str, payload: dict[str, Any], **kwargs: Any) -> Any:
    [event] = ingest(endpoint, payload, **kwargs).events
    return event


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


# --- write key -------------------------------------------------------------------------


def test_write_key_from_basic_auth_username() -> None:
    assert extract_write_key(basic("wk_123:"), None) == "wk_123"


def test_write_key_from_basic_auth_without_colon() -> None:
    # Segment's docs: encoding the key without the colon works for backward compatibility.
    assert extract_write_key(basic("wk_123"), {}) == "wk_123"


def test_write_key_from_body() -> None:
    assert extract_write_key(None, {"writeKey": "wk_body"}) == "wk_body"


def test_basic_auth_wins_over_body() -> None:
    assert extract_write_key(basic("wk_header:"), {"writeKey": "wk_body"}) == "wk_header"


def test_bearer_token_falls_back_to_body_write_key() -> None:
    assert extract_write_key("Bearer abc.def", {"writeKey": "wk_body"}) == "wk_body"


@pytest.mark.parametrize(
    ("authorization", "body", "code"),
    [
        (None, {}, "missing_write_key"),
        (None, None, "missing_write_key"),
        ("", {"writeKey": ""}, "missing_write_key"),
        (None, {"writeKey": 42}, "missing_write_key"),
        (basic(":"), {}, "missing_write_key"),
        ("Basic not-base64!!", {"writeKey": "wk"}, "invalid_authorization"),
    ],
)
def test_write_key_errors(authorization: str | None, body: Any, code: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        extract_write_key(authorization, body)
    assert caught.value.status == 401
    assert caught.value.code == code


# --- decoding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",  # analytics.js in the browser
        "application/x-www-form-urlencoded",  # @rudderstack/rudder-sdk-node 3.x (axios)
        None,
        "",
    ],
)
def test_json_and_beacon_content_types_are_accepted(content_type: str | None) -> None:
    assert decode_body("track", b'{"a": 1}', content_type=content_type) == {"a": 1}


def test_a_form_body_that_is_not_json_is_refused_as_such() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_body("track", b"userId=u1&event=E", content_type="application/x-www-form-urlencoded")
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/xml"])
def test_other_content_types_are_refused(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_body("track", b"{}", content_type=content_type)
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": }', b"\xff\xfe", b'{"a": NaN}'])
def test_invalid_json(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_body("track", body, content_type="application/json")
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")
    assert set(caught.value.details) == {"line", "column"}


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"1", b"null"])
def test_body_must_be_an_object(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_body("batch", body, content_type="application/json")
    assert caught.value.code == "invalid_body"


@pytest.mark.parametrize("coding", ["gzip", "GZIP", "x-gzip"])
def test_gzip_body(coding: str) -> None:
    raw = gzip.compress(b'{"batch": [], "writeKey": "wk"}')
    payload = decode_body("batch", raw, content_type="application/json", content_encoding=coding)
    assert payload == {"batch": [], "writeKey": "wk"}


def test_gzip_with_several_members() -> None:
    raw = gzip.compress(b'{"batch": ') + gzip.compress(b"[]}")
    assert decode_body("batch", raw, content_type="text/plain", content_encoding="gzip") == {
        "batch": []
    }


def test_identity_encoding_is_plain() -> None:
    assert decode_body("track", b"{}", content_type="text/plain", content_encoding="identity") == {}


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_body("track", b"{}", content_type="application/json", content_encoding="br")
    assert caught.value.code == "unsupported_encoding"


@pytest.mark.parametrize(
    "raw",
    [b"not gzip at all", gzip.compress(b'{"a": 1}', mtime=0)[:-6]],
    ids=["plain", "truncated"],
)
def test_broken_gzip(raw: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_body("track", raw, content_type="application/json", content_encoding="gzip")
    assert caught.value.code == "invalid_gzip"


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"{" + b" " * (50 * 1024 * 1024) + b"}", compresslevel=9)
    assert len(bomb) < 500 * 1024
    with pytest.raises(PayloadTooLarge) as caught:
        decode_body("batch", bomb, content_type="application/json", content_encoding="gzip")
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")


def test_inflated_body_over_the_event_limit() -> None:
    body = orjson.dumps({"userId": "u", "event": "e", "properties": {"x": "a" * 40_000}})
    with pytest.raises(PayloadTooLarge):
        decode_body(
            "track", gzip.compress(body), content_type="application/json", content_encoding="gzip"
        )


@pytest.mark.parametrize(
    ("endpoint", "size", "fits"),
    [
        ("track", 32 * 1024, True),
        ("track", 32 * 1024 + 1, False),
        ("batch", 500 * 1024, True),
        ("batch", 500 * 1024 + 1, False),
    ],
)
def test_request_size_limits(endpoint: str, size: int, fits: bool) -> None:
    body = b'{"x": "' + b"a" * (size - 9) + b'"}'
    assert len(body) == size
    if fits:
        assert decode_body(endpoint, body, content_type="application/json")["x"]
    else:
        with pytest.raises(PayloadTooLarge) as caught:
            decode_body(endpoint, body, content_type="application/json")
        assert caught.value.status == 413


def test_limits_are_configurable() -> None:
    limits = Limits(max_event_bytes=10)
    with pytest.raises(PayloadTooLarge) as caught:
        decode_body("track", b'{"x": "12345"}', content_type="application/json", limits=limits)
    assert caught.value.details == {"limit": 10}


def test_unknown_endpoint_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="ENDPOINTS"):
        decode_body("t", b"{}", content_type="application/json")


def test_endpoint_aliases_used_by_analytics_js() -> None:
    assert ENDPOINTS["t"] == "track"
    assert ENDPOINTS["p"] == "page"
    assert ENDPOINTS["b"] == "batch"
    assert ENDPOINTS["import"] == "batch"
    assert {ENDPOINTS[name] for name in ENDPOINTS} == {
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
        "batch",
    }


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "payload", "code", "field"),
    [
        ("track", {"event": "Signed Up"}, "missing_identity", "userId"),
        ("identify", {"userId": "", "anonymousId": "  "}, "missing_identity", "userId"),
        ("page", {"userId": None}, "missing_identity", "userId"),
        ("track", {"userId": "u1"}, "missing_field", "event"),
        ("track", {"userId": "u1", "event": ""}, "missing_field", "event"),
        ("track", {"userId": "u1", "event": 12}, "invalid_field", "event"),
        ("alias", {"userId": "u1"}, "missing_field", "previousId"),
        ("alias", {"previousId": "anon-1", "anonymousId": "anon-1"}, "missing_field", "userId"),
        ("group", {"userId": "u1"}, "missing_field", "groupId"),
        ("group", {"userId": "u1", "groupId": {"id": 1}}, "invalid_field", "groupId"),
        ("identify", {"userId": True}, "invalid_field", "userId"),
        ("identify", {"userId": "u1", "traits": ["a"]}, "invalid_field", "traits"),
        ("track", {"userId": "u1", "event": "e", "properties": "x"}, "invalid_field", "properties"),
        ("track", {"userId": "u1", "event": "e", "context": 1}, "invalid_field", "context"),
        ("page", {"userId": "u1", "integrations": []}, "invalid_field", "integrations"),
        ("page", {"userId": "u1", "name": 3}, "invalid_field", "name"),
        ("identify", {"userId": "u1", "messageId": "m" * 101}, "invalid_field", "messageId"),
        ("identify", {"userId": "u1", "messageId": 1.5}, "invalid_field", "messageId"),
    ],
)
def test_message_rules(endpoint: str, payload: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        ingest(endpoint, payload)
    error = caught.value
    assert (error.status, error.code, error.details) == (422, code, {"field": field})
    assert error.to_dict() == {
        "error": {"code": code, "message": error.message, "details": {"field": field}}
    }


@pytest.mark.parametrize(
    ("endpoint", "payload"),
    [
        ("identify", {"anonymousId": "anon-1"}),
        ("identify", {"userId": 42}),
        ("track", {"userId": "u1", "event": "Signed Up"}),
        ("page", {"anonymousId": "a"}),
        ("screen", {"userId": "u1", "name": "Home"}),
        ("group", {"userId": "u1", "groupId": "g1"}),
        ("group", {"anonymousId": "a", "groupId": 7}),
        ("alias", {"previousId": "anon-1", "userId": "u1"}),
    ],
)
def test_valid_messages(endpoint: str, payload: dict[str, Any]) -> None:
    assert one(endpoint, payload).type == endpoint


@pytest.mark.parametrize(
    ("item", "code", "status"),
    [
        ({"userId": "u1", "event": "e"}, "invalid_type", 422),
        ({"type": "purchase", "userId": "u1"}, "invalid_type", 422),
        ({"type": ["track"], "userId": "u1"}, "invalid_type", 422),
        ("not an object", "invalid_field", 422),
        ({"type": "track", "userId": "u1"}, "missing_field", 422),
        ({"type": "track", "userId": "u", "event": "e", "p": "x" * 33_000}, "event_too_large", 413),
    ],
)
def test_batch_item_errors_name_the_index(item: Any, code: str, status: int) -> None:
    good = {"type": "identify", "userId": "u1"}
    with pytest.raises(IngestError) as caught:
        ingest("batch", {"batch": [good, good, item]})
    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.details["index"] == 2


def test_batch_must_be_an_array() -> None:
    for payload in ({}, {"batch": {"type": "track"}}, {"batch": None}):
        with pytest.raises(BadRequest) as caught:
            ingest("batch", payload)
        assert (caught.value.code, caught.value.details) == ("invalid_body", {"field": "batch"})


def test_too_many_events_in_a_batch() -> None:
    item = {"type": "identify", "userId": "u1"}
    assert len(ingest("batch", {"batch": [item] * 2500}).events) == 2500
    with pytest.raises(BadRequest) as caught:
        ingest("batch", {"batch": [item] * 2501})
    assert (caught.value.status, caught.value.code) == (400, "too_many_events")
    with pytest.raises(BadRequest):
        ingest("batch", {"batch": [item] * 3}, limits=Limits(max_batch_events=2))


def test_batch_level_context_must_be_an_object() -> None:
    with pytest.raises(InvalidEvent) as caught:
        ingest("batch", {"batch": [], "context": "x"})
    assert caught.value.details == {"field": "context"}


def test_empty_batch() -> None:
    assert ingest("batch", {"batch": []}).events == []


def test_partial_batch_keeps_good_items_and_reports_bad_ones() -> None:
    result = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", "userId": "u1", "event": "A"},
                {"type": "track", "userId": "u1"},
                {"type": "nope", "userId": "u1"},
                {"type": "identify", "anonymousId": "a1"},
            ]
        },
        partial=True,
    )
    assert [event.type for event in result.events] == ["track", "identify"]
    assert [(error.code, error.details["index"]) for error in result.rejected] == [
        ("missing_field", 1),
        ("invalid_type", 2),
    ]


def test_single_message_errors_raise_even_when_partial() -> None:
    with pytest.raises(InvalidEvent):
        ingest("track", {"userId": "u1"}, partial=True)


# --- normalization ---------------------------------------------------------------------


def test_batch_context_and_integrations_merge_into_items_and_item_keys_win() -> None:
    result = ingest(
        "batch",
        {
            "writeKey": "wk",
            "context": {"ip": "1.2.3.4", "library": {"name": "batch-lib"}},
            "integrations": {"All": False, "Mixpanel": True},
            "batch": [
                {"type": "identify", "userId": "u1", "context": {"library": {"name": "item-lib"}}},
                {"type": "identify", "userId": "u2", "integrations": {"Mixpanel": False}},
            ],
        },
    )
    first, second = (event.data for event in result.events)
    assert first["context"] == {"ip": "1.2.3.4", "library": {"name": "item-lib"}}
    assert first["integrations"] == {"All": False, "Mixpanel": True}
    assert second["context"] == {"ip": "1.2.3.4", "library": {"name": "batch-lib"}}
    assert second["integrations"] == {"All": False, "Mixpanel": False}


def test_event_fields_from_a_track_call() -> None:
    event = one(
        "track",
        {
            "writeKey": "wk_secretish",
            "type": "identify",  # the endpoint decides the type, as on Segment
            "userId": 1234,
            "anonymousId": "anon-1",
            "event": "Order Completed",
            "messageId": "msg-1",
            "properties": {"total": 10, "email": "buyer@example.com"},
            "timestamp": "2025-12-31T23:00:00Z",
        },
    )
    assert event.id == "msg-1"
    assert event.type == "track"
    assert event.name == "Order Completed"
    assert event.user_id == "1234"
    assert event.anonymous_id == "anon-1"
    assert event.email == "buyer@example.com"
    assert event.source_id == "src_1"
    assert event.received_at == RECEIVED
    assert event.occurred_at == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert "writeKey" not in event.data
    assert event.data["type"] == "track"
    assert event.data["userId"] == "1234"
    assert event.data["messageId"] == "msg-1"
    assert event.data["receivedAt"] == "2026-01-01T12:00:00.000Z"
    assert event.data["properties"] == {"total": 10, "email": "buyer@example.com"}


def test_message_id_is_kept_or_generated_by_the_factory() -> None:
    result = ingest(
        "batch",
        {
            "batch": [
                {"type": "identify", "userId": "u1", "messageId": "given-1"},
                {"type": "identify", "userId": "u1"},
                {"type": "identify", "userId": "u1", "messageId": 99},
                {"type": "identify", "userId": "u1", "messageId": ""},
            ]
        },
    )
    assert [event.id for event in result.events] == ["given-1", "evt_0001", "99", "evt_0002"]
    assert [event.data["messageId"] for event in result.events] == [
        "given-1",
        "evt_0001",
        "99",
        "evt_0002",
    ]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"traits": {"email": "t@x.io"}, "context": {"traits": {"email": "c@x.io"}}}, "t@x.io"),
        ({"context": {"traits": {"email": " c@x.io "}}}, "c@x.io"),
        ({"traits": {"email": 5}, "properties": {"email": "p@x.io"}}, "p@x.io"),
        ({"traits": {"name": "n"}}, None),
    ],
)
def test_email_is_taken_from_traits_context_traits_or_properties(
    payload: dict[str, Any], expected: str | None
) -> None:
    assert one("identify", {"userId": "u1", **payload}).email == expected


def test_group_traits_are_the_groups_not_the_users() -> None:
    event = one(
        "group",
        {
            "userId": "u1",
            "groupId": "g1",
            "traits": {"email": "billing@company.example"},
            "context": {"traits": {"email": "person@company.example"}},
        },
    )
    assert event.email == "person@company.example"
    assert event.name is None


@pytest.mark.parametrize(
    ("endpoint", "payload", "name"),
    [
        ("page", {"name": "Pricing"}, "Pricing"),
        ("page", {"properties": {"name": "From properties"}}, "From properties"),
        ("page", {"properties": {"name": 1}}, None),
        ("screen", {"name": "Home"}, "Home"),
        ("identify", {"name": "ignored"}, None),
    ],
)
def test_page_and_screen_names(endpoint: str, payload: dict[str, Any], name: str | None) -> None:
    assert one(endpoint, {"userId": "u1", **payload}).name == name


def test_payload_is_not_modified() -> None:
    payload = {"userId": 5, "event": "e", "writeKey": "wk"}
    one("track", payload)
    assert payload == {"userId": 5, "event": "e", "writeKey": "wk"}


# --- timestamps ------------------------------------------------------------------------


def test_explicit_timestamp_is_kept() -> None:
    event = one(
        "track",
        {
            "userId": "u1",
            "event": "e",
            "timestamp": "2012-12-02T00:30:08.276Z",
            "sentAt": "2026-01-01T13:00:00Z",
        },
    )
    assert event.occurred_at == datetime(2012, 12, 2, 0, 30, 8, 276000, tzinfo=UTC)
    assert event.data["timestamp"] == "2012-12-02T00:30:08.276Z"
    assert event.data["originalTimestamp"] == "2012-12-02T00:30:08.276Z"


def test_device_clock_skew_is_corrected_with_sent_at() -> None:
    # The device clock is one hour fast; the event happened 30 s before it was sent.
    event = one(
        "track",
        {
            "userId": "u1",
            "event": "e",
            "originalTimestamp": "2026-01-01T12:59:30Z",
            "sentAt": "2026-01-01T13:00:00Z",
        },
    )
    assert event.occurred_at == RECEIVED - timedelta(seconds=30)
    assert event.data["timestamp"] == "2026-01-01T11:59:30.000Z"
    assert event.data["originalTimestamp"] == "2026-01-01T12:59:30.000Z"
    assert event.data["sentAt"] == "2026-01-01T13:00:00.000Z"


def test_batch_sent_at_corrects_every_item() -> None:
    result = ingest(
        "batch",
        {
            "sentAt": "2020-06-01T00:00:00Z",  # a device stuck in 2020
            "batch": [
                {"type": "identify", "userId": "u", "originalTimestamp": "2020-05-31T23:59:00Z"},
                {"type": "identify", "userId": "u", "originalTimestamp": "2020-05-31T23:00:00Z"},
            ],
        },
    )
    assert [event.occurred_at for event in result.events] == [
        RECEIVED - timedelta(minutes=1),
        RECEIVED - timedelta(hours=1),
    ]


def test_without_sent_at_the_original_timestamp_is_used() -> None:
    event = one("identify", {"userId": "u", "originalTimestamp": "2025-12-31T00:00:00+09:00"})
    assert event.occurred_at == datetime(2025, 12, 30, 15, tzinfo=UTC)


def test_without_any_timestamp_it_is_received_at() -> None:
    event = one("identify", {"userId": "u", "sentAt": "2026-01-01T11:00:00Z"})
    assert event.occurred_at == RECEIVED
    assert event.data["timestamp"] == "2026-01-01T12:00:00.000Z"
    assert "originalTimestamp" not in event.data


@pytest.mark.parametrize("bad", ["yesterday", "", "2026-13-45T99:00:00Z", {"t": 1}, True])
def test_unreadable_timestamps_are_tolerated(bad: Any) -> None:
    event = one("identify", {"userId": "u", "timestamp": bad, "sentAt": bad})
    assert event.occurred_at == RECEIVED
    # the sender's values are not lost: kept as sent, beside the context they came with
    assert event.data["context"]["invalid_timestamps"] == {"timestamp": bad, "sentAt": bad}
    assert event.data["timestamp"] == "2026-01-01T12:00:00.000Z"


def test_an_unreadable_batch_sent_at_is_kept_on_every_item() -> None:
    result = ingest(
        "batch",
        {
            "sentAt": "soon",
            "context": {"ip": "1.2.3.4"},
            "batch": [{"type": "identify", "userId": "u", "originalTimestamp": "never"}],
        },
    )
    [event] = result.events
    assert event.data["context"] == {
        "ip": "1.2.3.4",
        "invalid_timestamps": {"originalTimestamp": "never", "sentAt": "soon"},
    }


def test_analytics_js_device_timestamp_is_corrected_with_sent_at() -> None:
    """analytics.js stamps ``timestamp`` with the browser's clock: Segment treats it as the
    original timestamp and corrects it, ``receivedAt - (sentAt - timestamp)``."""
    event = one(
        "track",
        {
            "userId": "u1",
            "event": "e",
            "timestamp": "2026-01-01T12:59:30.000Z",  # the browser's clock is an hour fast
            "sentAt": "2026-01-01T13:00:00.000Z",
            "context": {"library": {"name": "analytics.js", "version": "npm:next-1.81.0"}},
        },
    )
    assert event.occurred_at == RECEIVED - timedelta(seconds=30)
    assert event.data["timestamp"] == "2026-01-01T11:59:30.000Z"
    assert event.data["originalTimestamp"] == "2026-01-01T12:59:30.000Z"


def test_a_server_library_timestamp_is_kept_even_with_sent_at() -> None:
    event = one(
        "track",
        {
            "userId": "u1",
            "event": "e",
            "timestamp": "2020-05-01T00:00:00.000Z",  # a historical import
            "sentAt": "2026-01-01T11:59:59.000Z",
            "context": {"library": {"name": "analytics-python", "version": "2.3.3"}},
        },
    )
    assert event.occurred_at == datetime(2020, 5, 1, tzinfo=UTC)


def test_correction_never_lands_after_received_at() -> None:
    assert (
        correct_timestamp(
            timestamp=None,
            original_timestamp=datetime(2026, 1, 1, 13, tzinfo=UTC),
            sent_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
            received_at=RECEIVED,
        )
        == RECEIVED
    )


def test_extreme_clocks_do_not_overflow() -> None:
    event = one(
        "identify",
        {"userId": "u", "originalTimestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31"},
    )
    assert event.occurred_at == RECEIVED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-2-02T00:30:08.276Z", datetime(2015, 2, 2, 0, 30, 8, 276000, tzinfo=UTC)),
        ("2024-05-01T10:00:00+0900", datetime(2024, 5, 1, 1, tzinfo=UTC)),
        ("2024-05-01 10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2022-10-10T00:02:50.0888384Z", datetime(2022, 10, 10, 0, 2, 50, 88838, tzinfo=UTC)),
        (1714557600, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600000, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("1714557600", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("Wed, 01 May 2024 10:00:00 GMT", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_timestamp_formats(text: Any, expected: datetime) -> None:
    assert one("identify", {"userId": "u", "timestamp": text}).occurred_at == expected


# --- never a 500 -----------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
_fields = st.sampled_from(
    [
        "type",
        "userId",
        "anonymousId",
        "event",
        "previousId",
        "groupId",
        "name",
        "messageId",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "traits",
        "properties",
        "context",
        "integrations",
    ]
)
_messages = st.dictionaries(_fields, _json | st.sampled_from(["track", "u1", "2024-01-01"]))


@settings(max_examples=300, deadline=None)
@given(endpoint=st.sampled_from(sorted(set(ENDPOINTS.values()))), message=_messages, batch=_json)
def test_any_json_object_gives_events_or_an_ingest_error(
    endpoint: str, message: dict[str, Any], batch: Any
) -> None:
    payload = {"batch": [message, batch], "context": message.get("context")}
    if endpoint != "batch":
        payload = message
    body = orjson.dumps(payload)
    try:
        decoded = decode_body(endpoint, body, content_type="application/json")
        result = ingest(endpoint, decoded, partial=True)
    except IngestError as exc:
        assert exc.status in (400, 413, 422)
        return
    for event in result.events:
        orjson.dumps(event.to_dict())


@pytest.mark.parametrize("library", [{"name": ["analytics.js"]}, {"name": {}}, "analytics.js", 7])
def test_odd_library_values_do_not_decide_the_timestamp(library: Any) -> None:
    event = one(
        "track",
        {
            "userId": "u1",
            "event": "e",
            "timestamp": "2020-05-01T00:00:00.000Z",
            "sentAt": "2026-01-01T11:00:00.000Z",
            "context": {"library": library},
        },
    )
    assert event.occurred_at == datetime(2020, 5, 1, tzinfo=UTC)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("endpoint", ["track", "batch"])
def test_nesting_deeper_than_max_depth_is_refused(endpoint: str) -> None:
    from renkei.events.envelope import MAX_DEPTH
    from renkei.events.errors import TooDeep

    def body(depth: int) -> bytes:  # an event `depth` levels deep
        message = b'{"type": "track", "userId": "u", "event": "e", "properties": %s}'
        message %= _nested(depth - 1)
        return b'{"batch": [%s]}' % message if endpoint == "batch" else message

    def run(raw: bytes) -> Any:
        return ingest(endpoint, decode_body(endpoint, raw, content_type="application/json"))

    assert len(run(body(MAX_DEPTH)).events) == 1
    for depth in (MAX_DEPTH + 1, 300):
        with pytest.raises(TooDeep) as caught:
            run(body(depth))
        assert caught.value.status == 400
        assert caught.value.details["max_depth"] == MAX_DEPTH


def test_brackets_inside_strings_are_not_nesting() -> None:
    payload = {"userId": "u", "event": "e", "properties": {"s": "[{" * 200}}
    raw = orjson.dumps(payload)
    assert one("track", decode_body("track", raw, content_type="application/json")).name == "e"
    batch = orjson.dumps({"batch": [{"type": "track", **payload}]})
    assert len(ingest("batch", decode_body("batch", batch, content_type="text/plain")).events) == 1


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    raw = orjson.dumps({"userId": "u", "event": "e", "properties": {"path": "C:\\u0000"}})
    event = one("track", decode_body("track", raw, content_type="application/json"))
    assert event.data["properties"]["path"] == "C:\\u0000"
