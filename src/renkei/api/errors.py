"""The one error shape every endpoint answers with:

{"error": {"code": "not_found", "message": "endpoint ep_123 does not exist", "details": null}}

Every :class:`~renkei.errors.RenkeiError` a use case or a service raises is answered here,
by one handler, with the status of its branch (and ``Retry-After`` for 429/503); routers
do not translate errors. :class:`ApiError` is for what only HTTP knows (401 with
``WWW-Authenticate``, 413, a bad cursor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from renkei.errors import NotFound as NotFound  # the tree's; routers import it from here
from renkei.errors import RenkeiError, TooMany, Unavailable
from renkei.security.keyring import SecretKeyUnavailable
from renkei.security.redaction import redact
from renkei.store.errors import constraint_problem, is_unavailable

log = structlog.get_logger("renkei.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(RenkeiError):
    """An error only HTTP has: any status, and headers of its own."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code or _STATUS_CODES.get(status, "error"), details=details)
        self.status = status
        self.headers = headers


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request body is larger than {limit} bytes", details={"limit": limit}
        )


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def renkei_error_response(exc: RenkeiError) -> JSONResponse:
    """The answer to anything Renkei refuses: its branch's status, code, message, details."""
    headers: dict[str, str] | None = None
    if isinstance(exc, ApiError):
        headers = exc.headers
    elif isinstance(exc, TooMany | Unavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


async def _renkei_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RenkeiError)
    return renkei_error_response(exc)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc.errors())


def validation_error_response(errors: Sequence[Any]) -> JSONResponse:
    """400 for a body that is not JSON, else 422 naming the first failing path."""
    problems = [
        {
            "path": ".".join(str(part) for part in error.get("loc", ()) if part != "body"),
            "message": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors
    ]
    if any(problem["type"] == "json_invalid" for problem in problems):
        return error_response(400, "invalid_json", "request body is not valid JSON", problems)
    first = problems[0] if problems else {"path": "", "message": "invalid request"}
    message = f"{first['path'] or 'request'}: {first['message']}"
    return error_response(422, "validation_failed", message, redact(problems))


def database_unavailable_response() -> JSONResponse:
    return error_response(
        503,
        "database_unavailable",
        "the database is unreachable; try again shortly",
        headers={"Retry-After": "5"},
    )


def database_error_response(exc: Exception, path: str) -> JSONResponse:
    """What a database error means to the client: a refused row is a 4xx naming the field
    (retrying cannot help), an unreachable database a 503 with ``Retry-After``, anything
    else a logged 500."""
    problem = constraint_problem(exc) if isinstance(exc, DBAPIError) else None
    if problem is not None:
        log.warning("database.refused", path=path, kind=problem.kind, field=problem.field)
        return error_response(problem.status, problem.code, problem.message, problem.details)
    if is_unavailable(exc) or (isinstance(exc, OSError) and not isinstance(exc, DBAPIError)):
        log.error("database.unavailable", path=path, error=type(exc).__name__)
        return database_unavailable_response()
    log.error("database.error", path=path, error=type(exc).__name__, exc_info=exc)
    return _internal_error()


def _internal_error() -> JSONResponse:
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


SECRET_KEY_UNAVAILABLE_MESSAGE = (
    "a stored secret is sealed with an encryption key this server does not have "
    "(the keys were rotated while it ran); restart with the new RENKEI_SECRET_KEY "
    "(new key first, then the old ones)"
)


def secret_key_unavailable_response() -> JSONResponse:
    """503, not 500: the server lacks a key after a rotation; a restart fixes it. Neither
    the secret nor any key (not even its id) is in the answer."""
    return error_response(
        503,
        "secret_key_unavailable",
        SECRET_KEY_UNAVAILABLE_MESSAGE,
        headers={"Retry-After": "30"},
    )


async def _secret_key_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SecretKeyUnavailable)
    log.error("keyring.key_unavailable", path=request.url.path, key_id=exc.key_id)
    return secret_key_unavailable_response()


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    return database_error_response(exc, request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, OSError) or is_unavailable(exc):
        return database_error_response(exc, request.url.path)
    log.exception("request.unhandled_error", path=request.url.path)
    return _internal_error()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RenkeiError, _renkei_error)
    app.add_exception_handler(SecretKeyUnavailable, _secret_key_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(DBAPIError, _database_error)
    # A dead connection's PendingRollbackError, an exhausted pool's TimeoutError: handled
    # here rather than by the catch-all, which re-raises to the server after answering.
    app.add_exception_handler(SQLAlchemyError, _unexpected)
    app.add_exception_handler(OSError, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
