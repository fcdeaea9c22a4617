"""``POST /crm/v3/objects/contacts/search``: filter groups (OR of ANDed filters), one
sort, a free-text ``query``, ``limit`` up to 200 and an offset ``after`` that cannot
reach past the 10,000th result."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from renkei.sandbox._common import Call, ViolationKind
from renkei.sandbox.hubspot.config import HubSpotSandboxConfig
from renkei.sandbox.hubspot.contacts import Result, requested_properties
from renkei.sandbox.hubspot.errors import HubSpotError, json_object, validation
from renkei.sandbox.hubspot.properties import QUERY_PROPERTIES, ContactSchema, comparable
from renkei.sandbox.hubspot.state import Contact, HubSpotState

_VALUE_OPERATORS = frozenset({"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "CONTAINS_TOKEN"})
_VALUE_OPERATORS_NEGATED = frozenset({"NOT_CONTAINS_TOKEN"})
_LIST_OPERATORS = frozenset({"IN", "NOT_IN"})
_PRESENCE_OPERATORS = frozenset({"HAS_PROPERTY", "NOT_HAS_PROPERTY"})
OPERATORS = (
    _VALUE_OPERATORS
    | _VALUE_OPERATORS_NEGATED
    | _LIST_OPERATORS
    | _PRESENCE_OPERATORS
    | {"BETWEEN"}
)
# Operators that a record without the property satisfies.
_MATCH_MISSING = frozenset({"NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY"})


@dataclass(frozen=True)
class Filter:
    name: str
    operator: str
    kind: str | None
    targets: tuple[float | str, ...]
    tokens: tuple[str, ...] = ()

    def matches(self, contact: Contact) -> bool:
        raw = contact.properties.get(self.name, "")
        if raw == "":
            return self.operator in _MATCH_MISSING
        if self.operator in _PRESENCE_OPERATORS:
            return self.operator == "HAS_PROPERTY"
        if self.operator in {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}:
            found = _contains_token(raw, self.tokens[0])
            return found if self.operator == "CONTAINS_TOKEN" else not found
        value = comparable(self.kind, raw)
        return value is not None and _OPERATIONS[self.operator](value, self.targets)


def _contains_token(raw: str, pattern: str) -> bool:
    words = [*raw.lower().replace("@", " ").replace(".", " ").split(), raw.lower()]
    needle = pattern.lower()
    if needle.startswith("*") or needle.endswith("*"):
        core = needle.strip("*")
        return any(core in word for word in words)
    return needle in words


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[float | str, tuple[Any, ...]], bool]:
    def check(value: float | str, targets: tuple[Any, ...]) -> bool:
        try:
            return op(value, targets[0])
        except TypeError:
            return False

    return check


def _between(value: float | str, targets: tuple[Any, ...]) -> bool:
    try:
        return bool(targets[0] <= value <= targets[1])
    except TypeError:
        return False


_OPERATIONS: dict[str, Callable[[float | str, tuple[Any, ...]], bool]] = {
    "EQ": lambda v, t: v == t[0],
    "NEQ": lambda v, t: v != t[0],
    "LT": _compare(lambda a, b: a < b),
    "LTE": _compare(lambda a, b: a <= b),
    "GT": _compare(lambda a, b: a > b),
    "GTE": _compare(lambda a, b: a >= b),
    "BETWEEN": _between,
    "IN": lambda v, t: v in t,
    "NOT_IN": lambda v, t: v not in t,
}


@dataclass(frozen=True)
class Search:
    groups: tuple[tuple[Filter, ...], ...]
    sort: tuple[str, bool] | None  # (property, descending)
    query: tuple[str, ...]
    names: tuple[str, ...]
    limit: int
    after: int

    def matches(self, contact: Contact) -> bool:
        if contact.archived:
            return False
        if self.query and not _matches_query(contact, self.query):
            return False
        return not self.groups or any(all(f.matches(contact) for f in g) for g in self.groups)


def search_contacts(state: HubSpotState, call: Call) -> Result:
    body = json_object(call)
    search = _parse(state, call, body)
    found = [c for c in state.contacts.values() if search.matches(c)]
    found.sort(key=lambda c: c.id)
    if search.sort is not None:
        name, descending = search.sort
        kind = state.schema.type_of(name)
        present = [c for c in found if c.properties.get(name)]
        missing = [c for c in found if not c.properties.get(name)]
        present.sort(key=lambda c: _sort_key(kind, c.properties[name]), reverse=descending)
        found = present + missing
    page = found[search.after : search.after + search.limit]
    cursor_key = f"search:{zlib.crc32(repr(sorted(body.items())).encode()):08x}"
    state.counters.pages_served[f"{cursor_key}:{search.after}"] += 1
    result: dict[str, Any] = {
        "total": len(found),
        "results": [c.to_json(search.names, state.schema) for c in page],
    }
    if search.after + search.limit < len(found):
        result["paging"] = {"next": {"after": str(search.after + search.limit)}}
    return 200, result


def _sort_key(kind: str | None, raw: str) -> tuple[int, float | str]:
    value = comparable(kind, raw)
    return (0, value) if isinstance(value, float) else (1, str(value))


def _matches_query(contact: Contact, tokens: tuple[str, ...]) -> bool:
    text = " ".join(contact.properties.get(name, "") for name in QUERY_PROPERTIES).lower()
    return all(token in text for token in tokens)


# --- parsing and limits ----------------------------------------------------------------


def _parse(state: HubSpotState, call: Call, body: dict[str, Any]) -> Search:
    config = state.config
    limit = _integer(body.get("limit", 10), "limit")
    after = _integer(body.get("after") or 0, "after")
    if limit > config.search_page_limit:
        state.violate(ViolationKind.PAGE_SIZE, call.endpoint, f"limit={limit}")
        raise validation(f"limit must be at most {config.search_page_limit}, got {limit}")
    if after + limit > config.search_result_cap:
        state.violate(ViolationKind.RESULT_CAP, call.endpoint, f"after={after} limit={limit}")
        raise validation(
            f"Search results are limited to {config.search_result_cap} records; "
            f"after={after} with limit={limit} goes past them"
        )
    query = body.get("query") or ""
    if not isinstance(query, str) or len(query) > config.search_query_max_chars:
        raise validation(f"query must be a string of at most {config.search_query_max_chars}")
    return Search(
        groups=_filter_groups(state, call, body.get("filterGroups") or []),
        sort=_sort(config, body.get("sorts") or []),
        query=tuple(query.lower().split()),
        names=requested_properties([str(p) for p in body.get("properties") or []]),
        limit=limit,
        after=after,
    )


def _integer(raw: Any, name: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise validation(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _filter_groups(state: HubSpotState, call: Call, raw: Any) -> tuple[tuple[Filter, ...], ...]:
    config = state.config
    if not isinstance(raw, list) or not all(
        isinstance(g, dict) and isinstance(g.get("filters"), list) for g in raw
    ):
        raise validation("filterGroups must be an array of objects with a filters array")
    sizes = [len(group["filters"]) for group in raw]
    if (
        len(raw) > config.search_max_filter_groups
        or any(size > config.search_max_filters_per_group for size in sizes)
        or sum(sizes) > config.search_max_filters
    ):
        state.violate(ViolationKind.LIST_SIZE, call.endpoint, f"filter groups of sizes {sizes}")
        raise validation(
            f"Too many filters: at most {config.search_max_filter_groups} filterGroups with "
            f"{config.search_max_filters_per_group} filters each and "
            f"{config.search_max_filters} filters in total"
        )
    return tuple(tuple(_filter(state.schema, f) for f in group["filters"]) for group in raw)


def _filter(schema: ContactSchema, raw: Any) -> Filter:
    if not isinstance(raw, dict) or not isinstance(raw.get("propertyName"), str):
        raise validation("Each filter needs a propertyName and an operator")
    name = raw["propertyName"].lower()
    operator = raw.get("operator", "EQ")
    if operator not in OPERATORS:
        raise validation(f"Unknown operator {operator!r}")
    kind = schema.type_of(name)
    if operator in _PRESENCE_OPERATORS:
        return Filter(name, operator, kind, ())
    if operator in _LIST_OPERATORS:
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise validation(f"Operator {operator} needs a values array")
        return Filter(name, operator, kind, tuple(_target(kind, name, v) for v in values))
    if "value" not in raw:
        raise validation(f"Operator {operator} needs a value")
    if operator in {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}:
        return Filter(name, operator, kind, (), (str(raw["value"]),))
    targets = [_target(kind, name, raw["value"])]
    if operator == "BETWEEN":
        if "highValue" not in raw:
            raise validation("Operator BETWEEN needs a highValue")
        targets.append(_target(kind, name, raw["highValue"]))
    return Filter(name, operator, kind, tuple(targets))


def _target(kind: str | None, name: str, raw: Any) -> float | str:
    value = comparable(kind, str(raw).lower() if isinstance(raw, bool) else str(raw))
    if value is None:
        raise validation(f"{raw!r} is not a valid value for property {name}")
    return value


def _sort(config: HubSpotSandboxConfig, raw: Any) -> tuple[str, bool] | None:
    if not isinstance(raw, list):
        raise validation("sorts must be an array")
    if len(raw) > config.search_max_sorts:
        raise validation(f"At most {config.search_max_sorts} sort is supported")
    if not raw:
        return None
    item = raw[0]
    if isinstance(item, str):
        return item.lstrip("-").lower(), item.startswith("-")
    if isinstance(item, dict) and isinstance(item.get("propertyName"), str):
        direction = str(item.get("direction", "ASCENDING")).upper()
        if direction not in {"ASCENDING", "DESCENDING"}:
            raise HubSpotError(400, "VALIDATION_ERROR", f"Unknown sort direction {direction}")
        return item["propertyName"].lower(), direction == "DESCENDING"
    raise validation("Each sort needs a propertyName")
