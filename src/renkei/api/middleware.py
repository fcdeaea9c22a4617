"""ASGI middleware: request ids, access metrics, the request body limit and JSON bodies."""

from __future__ import annotations

import json
import math
import os
import re
import time
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renkei.api.errors import error_response
from renkei.events.envelope import MAX_DEPTH
from renkei.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger("renkei.http")


class RequestContext:
    """Binds a request id (taken from ``X-Request-Id`` or generated) to every log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
                break
        # 32 hex characters, as uuid4().hex gave, without building a UUID per request.
        request_id = given.decode("latin-1")[:64] or os.urandom(16).hex()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            counted, timed = _metrics(scope["method"], path, status)
            counted.inc()
            timed.observe(elapsed)
            structlog.contextvars.unbind_contextvars("request_id")


_METRICS: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _metrics(method: str, path: str, status: int) -> tuple[Any, Any]:
    """The labelled request counter and latency histogram, looked up once per route and
    status: ``labels()`` costs several times what counting does. Bounded: ``path`` is a
    route template (or ``unmatched``), never the raw path."""
    found = _METRICS.get((method, path, status))
    if found is None:
        found = (
            HTTP_REQUESTS.labels(method, path, str(status)),
            HTTP_LATENCY.labels(method, path),
        )
        if len(_METRICS) < 10_000:  # methods are the client's to choose
            _METRICS[(method, path, status)] = found
    return found


class BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413, whether announced or streamed.

    A body with a ``Content-Length`` is checked against it (the server holds the client to
    it); a chunked body is read here first, up to the limit, and handed on whole.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"request body is larger than {self.limit} bytes",
            {"limit": self.limit},
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay


# -- JSON bodies of the management API --------------------------------------------------

JSON_PREFIX = "/api/"
MAX_JSON_DEPTH = MAX_DEPTH  # one limit for every way in (docs/ingest.md)
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_JSON_TYPE = b"application/json"
# What clients send with a JSON body and mean JSON: nothing at all, or curl's default for -d.
_READ_AS_JSON = frozenset({"", "application/x-www-form-urlencoded"})
_LONG_NUMBER = re.compile(rb"\d{19,}")  # 2**63 has 19 digits


class _BadBody(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def media_type_of(value: bytes | None) -> str:
    """``application/json`` of ``Application/JSON; charset=utf-8``; "" for none."""
    if value is None:
        return ""
    return value.decode("latin-1").partition(";")[0].strip().lower()


def is_json_media_type(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class JsonBody:
    """Every management route (``/api/...``) reads its body as strict JSON, once, here.

    - Media type: ``application/json`` (or ``application/*+json``) is JSON; so is a body sent
      with no ``Content-Type`` or with ``application/x-www-form-urlencoded``, which is what
      ``curl -d`` sends; the header is rewritten to ``application/json`` for the route. Any
      other media type is a 415 naming the header.
    - Content: UTF-8 JSON without ``NaN``/``Infinity``, at most ``MAX_JSON_DEPTH`` levels
      deep (400), whose strings hold no NUL or lone surrogate and whose numbers fit 64 bits
      and are finite (422 naming the path): what the database and the JSON encoder can keep.

    A request without a body passes untouched. The tracking API (``/v1/*``) never gets here.
    """

    def __init__(self, app: ASGIApp, prefix: str = JSON_PREFIX) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        content_type: bytes | None = None
        length: bytes | None = None
        chunked = False
        for name, value in headers:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked and (length is None or length.strip() in (b"", b"0")):
            await self.app(scope, receive, send)
            return
        media_type = media_type_of(content_type)
        try:
            if media_type in _READ_AS_JSON:
                scope["headers"] = [
                    *(item for item in headers if item[0] != b"content-type"),
                    (b"content-type", _JSON_TYPE),
                ]
            elif not is_json_media_type(media_type):
                raise _BadBody(
                    415,
                    "unsupported_media_type",
                    f"Content-Type must be application/json, not {media_type}",
                    {
                        "header": "Content-Type",
                        "content_type": media_type,
                        "accepted": ["application/json"],
                    },
                )
            messages: list[Message] = []
            body = bytearray()
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    # The client went away: let the app see it the way it would have.
                    await self.app(scope, _replay(messages, receive), send)
                    return
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            if body:
                check_json(bytes(body), form=media_type == "application/x-www-form-urlencoded")
        except _BadBody as bad:
            response = error_response(bad.status, bad.code, bad.message, bad.details)
            await response(scope, receive, send)
            return
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def check_json(body: bytes, *, form: bool = False) -> Any:
    """The parsed body, or :class:`_BadBody` saying what is wrong with it."""
    if (
        body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH
        and b"\\u0000" not in body
        and _LONG_NUMBER.search(body) is None
    ):
        # Most bodies: too few brackets to nest too deep, no NUL, no number that may not
        # fit 64 bits. orjson refuses the rest (bad UTF-8, lone surrogates, NaN, infinite
        # numbers) at C speed; the walk below is for the others, and says what is wrong.
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    hint = " (send JSON with Content-Type: application/json)" if form else ""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadBody(
            400,
            "invalid_json",
            f"request body is not valid UTF-8 JSON{hint}",
            {"position": exc.start},
        ) from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _BadBody(
            400,
            "invalid_json",
            f"request body is not valid JSON: {exc.msg}{hint}",
            {"line": exc.lineno, "column": exc.colno},
        ) from None
    except RecursionError:
        raise _too_deep() from None
    except _Constant as exc:
        raise _BadBody(
            400, "invalid_json", f"request body is not valid JSON: {exc} is not a JSON number"
        ) from None
    _check_values(value)
    return value


class _Constant(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _Constant(name)


def _too_deep() -> _BadBody:
    return _BadBody(
        400,
        "json_too_deep",
        f"request body nests deeper than {MAX_JSON_DEPTH} levels",
        {"max_depth": MAX_JSON_DEPTH},
    )


def _check_values(value: Any) -> None:
    """Walk the document (without recursion) for what no column or encoder can hold."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        kind = type(item)
        if kind is dict:
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            for key, child in item.items():
                _check_string(key, (*path, key))
                stack.append((child, depth + 1, (*path, key)))
        elif kind is list:
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            stack.extend((child, depth + 1, (*path, index)) for index, child in enumerate(item))
        elif kind is str:
            _check_string(item, path)
        elif kind is int:
            if not _INT_MIN <= item <= _INT_MAX:
                raise _invalid(
                    path, "number is out of range (a 64-bit signed integer at most)", "number_range"
                )
        elif kind is float and not math.isfinite(item):
            raise _invalid(path, "number is out of range (not a finite double)", "number_range")


def _check_string(text: str, path: tuple[str | int, ...]) -> None:
    if "\x00" in text:
        raise _invalid(path, "strings may not contain NUL (\\u0000)", "string_nul")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid(
                path, "strings may not contain lone surrogates", "string_unicode"
            ) from None


def _invalid(path: tuple[str | int, ...], message: str, kind: str) -> _BadBody:
    where = ".".join(str(part) for part in path)
    return _BadBody(
        422,
        "validation_failed",
        f"{where or 'request'}: {message}",
        [{"path": where, "message": message, "type": kind}],
    )
