"""Declarative field mapping: a source document in, a target record and problems out.

A spec is a list of rules, or ``{"fields": [...], "allow": [...]}`` / ``{"fields": [...],
"block": [...]}``. Rules::

    {"target": "email", "source": "traits.email", "convert": ["trim", "lowercase"]}
    {"target": "birthday", "source": "traits.birthday", "convert": ["to_date"],
     "format": "%Y/%m/%d", "output": "date"}
    {"target": "tags", "source": "traits.tags", "convert": [{"join": ";"}]}
    {"target": "source_system", "value": "renkei"}
    {"target": "unsubscribed", "value": false, "when_present": "email"}
    {"copy": "traits"}                      # every key of traits, subject to allow/block

- Targets are dotted paths into the record. Rules run in order (later ones overwrite
  earlier ones); rules with ``when_present`` run after the others, and only if that target
  holds a non-null value by then.
- A missing source leaves the target untouched unless the rule has a ``default`` (used as
  is, also for ``null``) or is ``required`` (reported). ``null`` passes through every
  conversion but ``default``.
- Conversions chain left to right. Options go on the rule (``format``, ``output``,
  ``unit``, ``separator``) or on the conversion: ``{"to_date": {"format": "%d.%m.%Y"}}``,
  or its main option as a scalar: ``{"join": ";"}``, ``{"default": "n/a"}``.
- ``allow``/``block`` name targets, case-insensitively: a rule aimed at a forbidden target
  is a spec error, and ``copy`` skips forbidden keys.
- ``apply`` never raises for bad data: a value that fails a conversion leaves its target
  unset and adds a :class:`FieldProblem`.

``to_date`` reads datetimes, ``format`` (strptime), unix seconds or milliseconds (numbers or
digit strings; ``unit`` is ``s``, ``ms`` or ``auto``, where ``auto`` takes magnitudes from
1e11 up as milliseconds) and ISO-8601. ``output`` is ``date``, ``datetime``, ``unix``,
``unix_ms`` or ``auto``: a date when the input had no time of day, else a datetime.
Naive datetimes are taken as UTC.

``hash_email`` and ``hash_phone`` normalise and SHA-256 an identifier as an ad platform
matches it (``renkei.expr.identifiers``): ``{"hash_email": "google"}`` (``vendor``:
``google``, ``meta``, ``linkedin`` or ``plain``), ``{"hash_phone": {"vendor": "meta",
"country_code": "81"}}``; a value already hashed passes through.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from renkei.expr import identifiers
from renkei.expr.errors import FieldProblem, MappingError, PathError, SpecProblem
from renkei.expr.paths import MISSING, Getter, compile_path, get_path, parse_path, set_path

__all__ = ["CONVERSIONS", "FieldMapping", "MappingResult", "compile_mapping", "validate_mapping"]

Convert = Callable[[object], object]
Options = Mapping[str, object]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS_THRESHOLD: Final = 1e11
_MAX_NUMBER_CHARS: Final = 100
_INTEGER: Final = re.compile(r"[+-]?\d+", re.ASCII)
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_TRUE: Final = frozenset({"true", "yes", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "0", "off"})
_DIRECTIVES: Final = frozenset("aAwdbBmyYHIpMSfzZjUWcxXGuV")
_TIME_DIRECTIVES: Final = frozenset("HIpMSfzZcX")
_OUTPUTS: Final = ("auto", "date", "datetime", "unix", "unix_ms")
_UNITS: Final = ("auto", "s", "ms")
_RULE_OPTIONS: Final = ("format", "output", "unit", "separator")
_RULE_KEYS: Final = frozenset(
    {"target", "source", "value", "copy", "convert", "default", "required", "when_present"}
).union(_RULE_OPTIONS)


@dataclass(frozen=True, slots=True)
class MappingResult:
    record: dict[str, object]
    problems: tuple[FieldProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


class FieldMapping:
    """A compiled mapping; ``apply`` is pure and never raises for bad source data."""

    __slots__ = ("_conditional", "_rules", "spec", "targets")

    def __init__(self, spec: object, rules: list[_Rule]) -> None:
        self.spec = spec
        self.targets = tuple(rule.target for rule in rules if rule.target)
        self._rules = tuple(rule for rule in rules if rule.when_present is None)
        self._conditional = tuple(
            (compile_path(rule.when_present), rule)
            for rule in rules
            if rule.when_present is not None
        )

    def apply(self, source: Mapping[str, object]) -> MappingResult:
        record: dict[str, object] = {}
        problems: list[FieldProblem] = []
        for rule in self._rules:
            rule.apply(source, record, problems)
        for present, rule in self._conditional:
            if present(record) not in (MISSING, None):
                rule.apply(source, record, problems)
        return MappingResult(record, tuple(problems))

    def __repr__(self) -> str:
        return f"FieldMapping({self.spec!r})"


def compile_mapping(spec: object, *, block: Iterable[str] = ()) -> FieldMapping:
    """Compile ``spec`` or raise :class:`MappingError`; ``block`` adds forbidden targets
    (a connector's default fields, say) to the spec's own list."""
    reader = _Reader(block)
    rules = reader.spec(spec)
    if reader.problems:
        raise MappingError(reader.problems)
    return FieldMapping(spec, rules)


def validate_mapping(spec: object, *, block: Iterable[str] = ()) -> list[SpecProblem]:
    """Every problem :func:`compile_mapping` would find, for API error details."""
    reader = _Reader(block)
    reader.spec(spec)
    return reader.problems


class _Unconvertible(Exception):
    """A value cannot be converted; the message is the reason."""


class _BadOption(Exception):
    """A conversion option is invalid; the message says why."""


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    convert: Convert
    accepts_null: bool


@dataclass(frozen=True, slots=True)
class _ValueRule:
    where: str
    when_present: str | None
    target: str
    value: object

    def apply(
        self, source: object, record: dict[str, object], problems: list[FieldProblem]
    ) -> None:
        set_path(record, self.target, copy.deepcopy(self.value))


@dataclass(frozen=True, slots=True)
class _FieldRule:
    where: str
    when_present: str | None
    target: str
    source: str
    getter: Getter
    steps: tuple[_Step, ...]
    default: object
    required: bool

    def apply(
        self, source: object, record: dict[str, object], problems: list[FieldProblem]
    ) -> None:
        value = self.getter(source)
        if value is MISSING or value is None:
            if self.default is not MISSING:
                set_path(record, self.target, copy.deepcopy(self.default))
                return
            if self.required:
                state = "missing" if value is MISSING else "null"
                problems.append(FieldProblem(self.target, None, None, f"{self.source} is {state}"))
                return
            if value is MISSING:
                return
        converted = _run(self.steps, self.target, value, problems)
        if converted is not MISSING:
            set_path(record, self.target, converted)


@dataclass(frozen=True, slots=True)
class _CopyRule:
    where: str
    when_present: str | None
    getter: Getter
    prefix: str
    permit: Callable[[str], bool]
    target: str = ""

    def apply(
        self, source: object, record: dict[str, object], problems: list[FieldProblem]
    ) -> None:
        found = self.getter(source)
        if found is MISSING:
            return
        if not isinstance(found, Mapping):
            problems.append(FieldProblem(self.prefix, found, None, "not an object"))
            return
        for key, value in found.items():
            if self.permit(f"{self.prefix}.{key}" if self.prefix else str(key)):
                _node(record, self.prefix)[str(key)] = copy.deepcopy(value)


_Rule = _ValueRule | _FieldRule | _CopyRule


def _node(record: dict[str, object], prefix: str) -> dict[str, object]:
    if not prefix:
        return record
    found = get_path(record, prefix)
    if not isinstance(found, dict):
        found = {}
        set_path(record, prefix, found)
    return found


def _run(
    steps: tuple[_Step, ...], target: str, value: object, problems: list[FieldProblem]
) -> object:
    for step in steps:
        if value is None and not step.accepts_null:
            continue
        try:
            value = step.convert(value)
        except _Unconvertible as exc:
            problems.append(FieldProblem(target, value, step.name, str(exc)))
            return MISSING
        except Exception as exc:
            problems.append(FieldProblem(target, value, step.name, f"{type(exc).__name__}: {exc}"))
            return MISSING
    return value


class _Permit:
    def __init__(self, allow: Iterable[str] | None, block: Iterable[str]) -> None:
        self.allow = None if allow is None else frozenset(name.casefold() for name in allow)
        self.block = frozenset(name.casefold() for name in block)

    def __call__(self, target: str) -> bool:
        name = target.casefold()
        return name not in self.block and (self.allow is None or name in self.allow)

    def reason(self, target: str) -> str:
        if target.casefold() in self.block:
            return f"target {target!r} is blocked"
        return f"target {target!r} is not in the allowlist"


class _Reader:
    """Reads a spec into rules, collecting every problem instead of stopping at the first."""

    def __init__(self, block: Iterable[str]) -> None:
        self.extra_block = tuple(block)
        self.problems: list[SpecProblem] = []
        self.permit = _Permit(None, self.extra_block)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(SpecProblem(where, f"{message} at {where}"))

    def spec(self, spec: object) -> list[_Rule]:
        if isinstance(spec, list):
            spec = {"fields": spec}
        if not isinstance(spec, Mapping):
            self.problem("the top level", "a mapping must be a list of rules or an object")
            return []
        for key in spec:
            if key not in ("fields", "allow", "block"):
                self.problem("the top level", f"unknown key {key!r}")
        self.permit = self.permits(spec)
        fields = spec.get("fields")
        if not isinstance(fields, list):
            self.problem("the top level", "'fields' must be a list of rules")
            return []
        rules = [self.rule(item, f"fields[{i}]") for i, item in enumerate(fields)]
        found = [rule for rule in rules if rule is not None]
        self.check_conditions(found)
        return found

    def permits(self, spec: Mapping[Any, object]) -> _Permit:
        if "allow" in spec and "block" in spec:
            self.problem("the top level", "use either 'allow' or 'block', not both")
        allow = self.names(spec, "allow") if "allow" in spec else None
        return _Permit(allow, (*self.names(spec, "block"), *self.extra_block))

    def names(self, spec: Mapping[Any, object], key: str) -> list[str]:
        names = spec.get(key, [])
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            return names
        self.problem(key, f"{key!r} must be a list of field names")
        return []

    def rule(self, item: object, where: str) -> _Rule | None:
        if not isinstance(item, Mapping):
            self.problem(where, "a rule must be an object")
            return None
        for key in item:
            if key not in _RULE_KEYS:
                self.problem(where, f"unknown key {key!r}")
        kinds = [key for key in ("source", "value", "copy") if key in item]
        if len(kinds) != 1:
            self.problem(where, "a rule needs exactly one of 'source', 'value' or 'copy'")
            return None
        when_present = self.optional_path(item, "when_present", where)
        if kinds == ["copy"]:
            return self.copy_rule(item, where, when_present)
        if kinds == ["value"]:
            self.no_conversions(item, where)
            return _ValueRule(where, when_present, self.target(item, where), item["value"])
        return self.field_rule(item, where, when_present)

    def copy_rule(self, item: Mapping[str, Any], where: str, when: str | None) -> _CopyRule:
        self.no_conversions(item, where)
        getter = self.getter(item["copy"], f"{where}.copy")
        prefix = self.optional_path(item, "target", where) or ""
        return _CopyRule(where, when, getter, prefix, self.permit)

    def field_rule(self, item: Mapping[str, Any], where: str, when: str | None) -> _FieldRule:
        required = item.get("required", False)
        if not isinstance(required, bool):
            self.problem(where, "'required' must be true or false")
        return _FieldRule(
            where,
            when,
            target=self.target(item, where),
            source=str(item["source"]),
            getter=self.getter(item["source"], f"{where}.source"),
            steps=self.steps(item, where),
            default=item.get("default", MISSING),
            required=required is True,
        )

    def no_conversions(self, item: Mapping[str, Any], where: str) -> None:
        for key in ("convert", "default", "required", *_RULE_OPTIONS):
            if key in item:
                self.problem(where, f"{key!r} only applies to rules with a 'source'")

    def target(self, item: Mapping[str, Any], where: str) -> str:
        target = self.optional_path(item, "target", where)
        if target is None:
            self.problem(where, "a rule needs a 'target'")
            return ""
        if not self.permit(target):
            self.problem(where, self.permit.reason(target))
        return target

    def optional_path(self, item: Mapping[str, Any], key: str, where: str) -> str | None:
        if key not in item:
            return None
        path = item[key]
        try:
            parse_path(path)
        except PathError as exc:
            self.problem(f"{where}.{key}", str(exc))
            return None
        return str(path)

    def getter(self, path: object, where: str) -> Getter:
        try:
            return compile_path(path)  # type: ignore[arg-type]
        except PathError as exc:
            self.problem(where, str(exc))
            return lambda _: MISSING

    def steps(self, item: Mapping[str, Any], where: str) -> tuple[_Step, ...]:
        names = item.get("convert", [])
        names = [names] if isinstance(names, str | Mapping) else names
        if not isinstance(names, list):
            self.problem(where, "'convert' must be a list of conversions")
            return ()
        shared = {key: item[key] for key in _RULE_OPTIONS if key in item}
        steps = [self.step(entry, shared, f"{where}.convert[{i}]") for i, entry in enumerate(names)]
        used = {option for entry in names for option in _options_of(entry)}
        for option in shared.keys() - used:
            self.problem(where, f"{option!r} is not used by any conversion of this rule")
        return tuple(step for step in steps if step is not None)

    def step(self, entry: object, shared: Options, where: str) -> _Step | None:
        parsed = _entry(entry)
        if parsed is None:
            self.problem(where, "a conversion must be a name or an object with one name")
            return None
        name, own = parsed
        kind = CONVERSIONS.get(name)
        if kind is None:
            known = ", ".join(sorted(CONVERSIONS))
            self.problem(where, f"unknown conversion {name!r} (known: {known})")
            return None
        try:
            options = kind.options_from(own, shared)
            return _Step(name, kind.build(options), kind.accepts_null)
        except _BadOption as exc:
            self.problem(where, f"{name}: {exc}")
            return None

    def check_conditions(self, rules: list[_Rule]) -> None:
        if any(isinstance(rule, _CopyRule) for rule in rules):
            return
        targets = {rule.target for rule in rules}
        for rule in rules:
            if rule.when_present is not None and rule.when_present not in targets:
                self.problem(
                    f"{rule.where}.when_present",
                    f"when_present {rule.when_present!r} is not the target of any rule",
                )


def _entry(entry: object) -> tuple[str, object] | None:
    if isinstance(entry, str):
        return entry, MISSING
    if isinstance(entry, Mapping) and len(entry) == 1:
        ((name, options),) = entry.items()
        return (name, options) if isinstance(name, str) else None
    return None


def _options_of(entry: object) -> frozenset[str]:
    parsed = _entry(entry)
    kind = CONVERSIONS.get(parsed[0]) if parsed else None
    return kind.options if kind else frozenset()


@dataclass(frozen=True, slots=True)
class _Kind:
    build: Callable[[Options], Convert]
    options: frozenset[str] = frozenset()
    primary: str | None = None
    accepts_null: bool = False

    def options_from(self, own: object, shared: Options) -> Options:
        if own is MISSING:
            own = {}
        elif not isinstance(own, Mapping):
            if self.primary is None:
                raise _BadOption("takes no options")
            own = {self.primary: own}
        unknown = sorted(set(own) - self.options)
        if unknown:
            raise _BadOption(f"unknown option {unknown[0]!r}")
        return {**{k: v for k, v in shared.items() if k in self.options}, **own}


def _stringify(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(_finite(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | Mapping):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    raise _Unconvertible(f"cannot turn {_kind(value)} into a string")


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise _Unconvertible("not a finite number")
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _number(value: object) -> int | float:
    if isinstance(value, bool):
        raise _Unconvertible("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _finite(value)
    if not isinstance(value, str):
        raise _Unconvertible(f"{_kind(value)} is not a number")
    text = value.strip()
    if len(text) > _MAX_NUMBER_CHARS:
        raise _Unconvertible(f"longer than {_MAX_NUMBER_CHARS} characters")
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return _finite(float(text))
    raise _Unconvertible("not a number")


def _integer(value: object) -> int:
    number = _number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise _Unconvertible("not a whole number")
        return int(number)
    return number


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise _Unconvertible("expected true/false, yes/no, 1/0 or on/off")


def _text(func: Callable[[str], object]) -> Callable[[Options], Convert]:
    def convert(value: object) -> object:
        if not isinstance(value, str):
            raise _Unconvertible(f"expected a string, got {_kind(value)}")
        return func(value)

    return lambda _options: convert


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_VENDORS: Final = ("google", "meta", "linkedin", "plain")


def _vendor(options: Options) -> identifiers.Vendor:
    vendor = options.get("vendor", "plain")
    if vendor not in _VENDORS:
        raise _BadOption(f"vendor must be one of {', '.join(_VENDORS)}")
    return vendor  # type: ignore[return-value]


def _hash_email(options: Options) -> Convert:
    vendor = _vendor(options)

    def convert(value: object) -> object:
        if not isinstance(value, str):
            raise _Unconvertible(f"expected a string, got {_kind(value)}")
        try:
            return identifiers.hash_email(value, vendor)
        except ValueError as exc:
            raise _Unconvertible(str(exc)) from None

    return convert


def _hash_phone(options: Options) -> Convert:
    vendor = _vendor(options)
    country = options.get("country_code")
    if country is not None and not (isinstance(country, str) and country.lstrip("+").isdigit()):
        raise _BadOption('country_code must be digits, e.g. "81"')

    def convert(value: object) -> object:
        if not isinstance(value, str):
            raise _Unconvertible(f"expected a string, got {_kind(value)}")
        try:
            return identifiers.hash_phone(value, vendor, default_country_code=country)
        except ValueError as exc:
            raise _Unconvertible(str(exc)) from None

    return convert


def _separator(options: Options) -> str:
    separator = options.get("separator", ",")
    if not isinstance(separator, str) or not separator:
        raise _BadOption("separator must be a non-empty string")
    return separator


def _join(options: Options) -> Convert:
    separator = _separator(options)

    def convert(value: object) -> object:
        if not isinstance(value, list | tuple):
            raise _Unconvertible(f"expected a list, got {_kind(value)}")
        return separator.join(_stringify(item) for item in value if item is not None)

    return convert


def _split(options: Options) -> Convert:
    separator = _separator(options)

    def convert(value: object) -> object:
        if not isinstance(value, str):
            raise _Unconvertible(f"expected a string, got {_kind(value)}")
        return [part.strip() for part in value.split(separator) if part.strip()]

    return convert


def _default(options: Options) -> Convert:
    if "value" not in options:
        raise _BadOption('needs a value, e.g. {"default": "n/a"}')
    fallback = options["value"]

    def convert(value: object) -> object:
        return copy.deepcopy(fallback) if value in (None, "", [], {}) else value

    return convert


def _to_date(options: Options) -> Convert:
    fmt = options.get("format")
    output = options.get("output", "auto")
    unit = options.get("unit", "auto")
    has_time = _check_format(fmt) if fmt is not None else True
    if output not in _OUTPUTS:
        raise _BadOption(f"output must be one of {', '.join(_OUTPUTS)}")
    if unit not in _UNITS:
        raise _BadOption(f"unit must be one of {', '.join(_UNITS)}")
    assert isinstance(output, str) and isinstance(unit, str)
    fmt_text = fmt if isinstance(fmt, str) else None

    def convert(value: object) -> object:
        return _render_moment(_read_moment(value, fmt_text, has_time, unit), output)

    return convert


def _check_format(fmt: object) -> bool:
    """Validate a strptime format; True when it reads a time of day."""
    if not isinstance(fmt, str) or not fmt:
        raise _BadOption("format must be a non-empty string")
    directives = re.findall(r"%(.?)", fmt.replace("%%", ""))
    bad = [d for d in directives if d not in _DIRECTIVES]
    if bad or not directives:
        raise _BadOption(f"bad format {fmt!r}" + (f": unknown directive %{bad[0]}" if bad else ""))
    return any(d in _TIME_DIRECTIVES for d in directives)


def _read_moment(value: object, fmt: str | None, has_time: bool, unit: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise _Unconvertible("a boolean is not a date")
    if isinstance(value, int | float):
        return _from_unix(value, unit)
    if not isinstance(value, str):
        raise _Unconvertible(f"{_kind(value)} is not a date")
    text = value.strip()
    if fmt is not None:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            pass
        else:
            return parsed if has_time else parsed.date()
    if _NUMBER.fullmatch(text) and len(text) <= _MAX_NUMBER_CHARS:
        return _from_unix(_number(text), unit)
    return _from_iso(text, fmt)


def _from_iso(text: str, fmt: str | None) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        expected = f"{fmt!r}, ISO-8601" if fmt else "ISO-8601"
        raise _Unconvertible(f"not a date: expected {expected} or a unix timestamp") from None


def _from_unix(number: float, unit: str) -> datetime:
    if not math.isfinite(number):
        raise _Unconvertible("not a finite number")
    millis = unit == "ms" or (unit == "auto" and abs(number) >= _MS_THRESHOLD)
    try:
        return _EPOCH + (timedelta(milliseconds=number) if millis else timedelta(seconds=number))
    except OverflowError:
        raise _Unconvertible("timestamp out of range") from None


def _render_moment(moment: date, output: str) -> object:
    if output == "date" or (output == "auto" and not isinstance(moment, datetime)):
        return (moment.date() if isinstance(moment, datetime) else moment).isoformat()
    aware = _aware(moment)
    if output == "unix":
        return (aware - _EPOCH) // timedelta(seconds=1)
    if output == "unix_ms":
        return (aware - _EPOCH) // timedelta(milliseconds=1)
    return aware.isoformat()


def _aware(moment: date) -> datetime:
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _plain(convert: Convert) -> Callable[[Options], Convert]:
    return lambda _options: convert


CONVERSIONS: Final[dict[str, _Kind]] = {
    "to_string": _Kind(_plain(_stringify)),
    "to_number": _Kind(_plain(_number)),
    "to_int": _Kind(_plain(_integer)),
    "to_bool": _Kind(_plain(_boolean)),
    "to_date": _Kind(_to_date, frozenset({"format", "output", "unit"}), "format"),
    "lowercase": _Kind(_text(str.lower)),
    "uppercase": _Kind(_text(str.upper)),
    "trim": _Kind(_text(str.strip)),
    "md5": _Kind(_text(_md5)),
    "sha256": _Kind(_text(_sha256)),
    "hash_email": _Kind(_hash_email, frozenset({"vendor"}), "vendor"),
    "hash_phone": _Kind(_hash_phone, frozenset({"vendor", "country_code"}), "vendor"),
    "join": _Kind(_join, frozenset({"separator"}), "separator"),
    "split": _Kind(_split, frozenset({"separator"}), "separator"),
    "default": _Kind(_default, frozenset({"value"}), "value", accepts_null=True),
}
"""The conversions a rule's ``convert`` list may name."""
