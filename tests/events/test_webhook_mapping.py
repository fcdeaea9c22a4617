from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renkei.events import (
    BadRequest,
    ConfigError,
    IngestError,
    InvalidEvent,
    PayloadTooLarge,
    build_mapping,
    parse_body,
)

RECEIVED = datetime(2026, 1, 1, 12, tzinfo=UTC)


def run(
    config: dict[str, Any],
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    partial: bool = False,
) -> Any:
    counter = itertools.count(1)
    return build_mapping(config).to_events(
        headers=headers or {},
        query=query or {},
        body=body,
        source_id="src_hook",
        received_at=RECEIVED,
        new_id=lambda: f"evt_{next(counter)}",
        partial=partial,
    )


# --- bodies ----------------------------------------------------------------------------


def test_mailchimp_form_body_nests_bracketed_keys() -> None:
    # Mailchimp's documented "subscribe" webhook, form-encoded.
    raw = urlencode(
        {
            "type": "subscribe",
            "fired_at": "2009-03-26 21:35:57",
            "data[id]": "8a25ff1d98",
            "data[list_id]": "a6b5da1054",
            "data[email]": "api@mailchimp.com",
            "data[email_type]": "html",
            "data[merges][EMAIL]": "api@mailchimp.com",
            "data[merges][FNAME]": "Mailchimp",
            "data[ip_opt]": "10.20.10.30",
        }
    ).encode()
    body = parse_body(raw, "application/x-www-form-urlencoded; charset=utf-8")
    assert body["data"]["merges"] == {"EMAIL": "api@mailchimp.com", "FNAME": "Mailchimp"}
    assert body["data"]["list_id"] == "a6b5da1054"

    config = {
        "type": "type",
        "type_prefix": "mailchimp.",
        "email": "data.email",
        "user_id": "data.id",
        "occurred_at": "fired_at",
    }
    [event] = run(config, body).events
    assert event.type == "mailchimp.subscribe"
    assert event.email == "api@mailchimp.com"
    assert event.user_id == "8a25ff1d98"
    assert event.occurred_at == datetime(2009, 3, 26, 21, 35, 57, tzinfo=UTC)
    assert event.received_at == RECEIVED
    assert event.id == "evt_1"
    assert event.data is body
    assert event.source_id == "src_hook"


def test_form_repeated_keys_become_lists() -> None:
    body = parse_body(b"tags[]=a&tags[]=b&x=1&x=2&y=", "application/x-www-form-urlencoded")
    assert body == {"tags": ["a", "b"], "x": ["1", "2"], "y": ""}


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        (b'{"a": 1}', "application/json", {"a": 1}),
        (b'{"a": 1}', "application/vnd.api+json", {"a": 1}),
        (b'[{"a": 1}]', None, [{"a": 1}]),
        (b"{not json", None, "{not json"),
        (b"hello", "text/plain", "hello"),
        (b"<xml/>", "application/xml", "<xml/>"),
    ],
)
def test_parse_body(raw: bytes, content_type: str | None, expected: Any) -> None:
    assert parse_body(raw, content_type) == expected


def test_invalid_json_with_a_json_content_type() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_body(b'{"a":', "application/json")
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


def test_raw_text_body_with_a_fixed_type() -> None:
    [event] = run({"type": {"value": "sms.inbound"}}, parse_body(b"STOP", "text/plain")).events
    assert (event.type, event.data) == ("sms.inbound", {"value": "STOP"})


# --- mapping ---------------------------------------------------------------------------


def test_items_path_with_ids_and_times_per_item() -> None:
    # Klaviyo system webhook shape: several events under "data".
    body = {
        "data": [
            {
                "external_id": "ev-1",
                "topic": "event:klaviyo.opened_email",
                "payload": {
                    "datetime": "2026-01-01T11:59:00+00:00",
                    "profile": {"email": "a@x.io"},
                },
            },
            {
                "external_id": "ev-2",
                "topic": "event:klaviyo.clicked_email",
                "payload": {"datetime": "2026-01-01T11:59:30+00:00"},
            },
        ],
        "meta": {"klaviyo_account_id": "XyZ"},
    }
    config = {
        "items": "data",
        "type": "topic",
        "id": "external_id",
        "occurred_at": "payload.datetime",
        "email": "payload.profile.email",
    }
    events = run(config, body).events
    assert [(e.id, e.type, e.email) for e in events] == [
        ("ev-1", "event:klaviyo.opened_email", "a@x.io"),
        ("ev-2", "event:klaviyo.clicked_email", None),
    ]
    assert events[1].occurred_at == datetime(2026, 1, 1, 11, 59, 30, tzinfo=UTC)
    assert events[0].data is body["data"][0]


def test_root_array_and_numeric_fields() -> None:
    # HubSpot sends an array at the root; ids are numbers, times unix milliseconds.
    body = [
        {"eventId": 100, "subscriptionType": "contact.creation", "occurredAt": 1767268800000},
        {"eventId": 101, "subscriptionType": "contact.deletion", "occurredAt": 1767268860000},
    ]
    config = {
        "items": "$",
        "type": "subscriptionType",
        "id": "eventId",
        "occurred_at": "occurredAt",
    }
    events = run(config, body).events
    assert [event.id for event in events] == ["100", "101"]
    assert events[0].occurred_at == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_type_and_id_from_headers() -> None:
    # Shopify: the topic and the webhook id are headers; header names are case-insensitive.
    config = {
        "type": {"header": "X-Shopify-Topic"},
        "id": {"header": "x-shopify-webhook-id"},
        "email": "customer.email",
        "user_id": "customer.id",
    }
    headers = {"x-shopify-topic": "orders/create", "X-Shopify-Webhook-Id": "b54557e4"}
    [event] = run(
        config,
        {"id": 820982911946154500, "customer": {"id": 1, "email": "c@x.io"}},
        headers=headers,
    ).events
    assert (event.type, event.id, event.email, event.user_id) == (
        "orders/create",
        "b54557e4",
        "c@x.io",
        "1",
    )


def test_request_level_ids_are_suffixed_per_item() -> None:
    config = {"items": "events", "type": "kind", "id": {"header": "webhook-id"}}
    body = {"events": [{"kind": "a"}, {"kind": "b"}]}
    events = run(config, body, headers={"webhook-id": "msg_1"}).events
    assert [event.id for event in events] == ["msg_1:0", "msg_1:1"]
    [single] = run(
        {"type": "kind", "id": {"header": "webhook-id"}},
        {"kind": "a"},
        headers={"webhook-id": "msg_1"},
    ).events
    assert single.id == "msg_1"


def test_type_from_the_query_string_and_list_indexes() -> None:
    config = {"type": {"query": "event"}, "email": "leads.0.email", "name": {"value": "Lead"}}
    body = {"leads": [{"email": "lead@x.io"}]}
    [event] = run(config, body, query={"event": "marketo.lead_changed"}).events
    assert (event.type, event.email, event.name) == ("marketo.lead_changed", "lead@x.io", "Lead")


def test_missing_values_fall_back() -> None:
    [event] = run(
        {"type": "t", "id": "id", "occurred_at": "when", "email": "who"},
        {"t": "x", "when": "soon", "who": {"a": 1}},
    ).events
    assert event.id == "evt_1"
    assert event.occurred_at == RECEIVED
    assert event.email is None


def test_missing_type() -> None:
    with pytest.raises(InvalidEvent) as caught:
        run({"items": "data", "type": "topic"}, {"data": [{"topic": "ok"}, {"topic": ""}]})
    assert (caught.value.status, caught.value.code) == (422, "missing_type")
    assert caught.value.details == {"field": "type", "index": 1}


def test_partial_keeps_good_items() -> None:
    result = run({"items": "$", "type": "t"}, [{"t": "a"}, {}, "x", {"t": 5}], partial=True)
    assert [event.type for event in result.events] == ["a", "5"]
    assert [error.details["index"] for error in result.rejected] == [1, 2]


def test_items_must_be_an_array() -> None:
    with pytest.raises(InvalidEvent) as caught:
        run({"items": "data", "type": "t"}, {"data": {"t": "a"}})
    assert caught.value.code == "invalid_items"


def test_too_many_items() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        run({"items": "$", "type": "t", "max_items": 2}, [{"t": "a"}] * 3)
    assert (caught.value.status, caught.value.code) == (413, "too_many_events")


def test_overlong_id() -> None:
    with pytest.raises(InvalidEvent) as caught:
        run({"type": "t", "id": "id"}, {"t": "a", "id": "x" * 256})
    assert caught.value.details == {"field": "id"}


# --- configs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "type"),
        ({"type": {}}, "type"),
        ({"type": {"path": "a", "header": "b"}}, "type"),
        ({"type": {"path": "a..b"}}, "type"),
        ({"type": {"jsonpath": "a"}}, "type.jsonpath"),
        ({"type": "t", "id": {"value": "same-for-all"}}, ""),
        ({"type": "t", "items": "a."}, ""),
        ({"type": "t", "email": 5}, "email"),
        ({"type": "t", "max_items": 0}, "max_items"),
        ({"type": "t", "unknown": 1}, "unknown"),
    ],
)
def test_invalid_mapping_configs(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_mapping(config)
    assert (caught.value.status, caught.value.code) == (422, "invalid_config")
    assert field in [detail["field"] for detail in caught.value.details]


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["t", "id", "data", "email", "0"]), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(body=_json, items=st.sampled_from([None, "$", "data", "data.0"]))
def test_any_body_gives_events_or_an_ingest_error(body: Any, items: str | None) -> None:
    config = {"type": "t", "id": "id", "email": "email", "occurred_at": "data.0", "items": items}
    try:
        result = run({key: value for key, value in config.items() if value}, body, partial=True)
    except IngestError as exc:
        assert exc.status in (413, 422)
        return
    for event in result.events:
        orjson.dumps(event.to_dict())
