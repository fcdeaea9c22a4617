"""The Klaviyo sandbox's pipeline and endpoints.

Each call: injected faults, routing (404/405), ``Authorization: Klaviyo-API-Key <key>``
(401 ``not_authenticated`` / ``authentication_failed``), the ``revision`` header (400),
the JSON:API media type on bodies (415), then the endpoint's two fixed windows, burst
and steady (429 ``throttled`` with ``Retry-After``, and a violation), then the endpoint.
Answers past the limits carry ``RateLimit-Limit``/``-Remaining``/``-Reset`` for the
steady window.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import BadBody, FixedWindow, VendorSandbox, json_body, up
from renkei.sandbox._common import Call, ViolationKind, content_type, parse_datetime
from renkei.sandbox.klaviyo.state import (
    RATE_LIMITS,
    BulkJob,
    Event,
    KlaviyoError,
    KlaviyoSandboxConfig,
    KlaviyoState,
    Profile,
    check_profile,
    invalid,
)

JSON_API = "application/vnd.api+json"
_REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_ROUTES: list[tuple[str, re.Pattern[str], str, str]] = [
    ("POST", re.compile(r"^/api/profile-import$"), "profile_import", "profile_import"),
    ("POST", re.compile(r"^/api/events$"), "create_event", "create_event"),
    ("POST", re.compile(r"^/api/profile-bulk-import-jobs$"), "bulk_import", "bulk_import"),
    (
        "GET",
        re.compile(r"^/api/profile-bulk-import-jobs/(?P<job>[^/]+)$"),
        "get_job",
        "bulk_import_status",
    ),
    (
        "GET",
        re.compile(r"^/api/profile-bulk-import-jobs/(?P<job>[^/]+)/import-errors$"),
        "import_errors",
        "bulk_import_status",
    ),
    ("GET", re.compile(r"^/api/profiles$"), "get_profiles", "get_profiles"),
    (
        "POST",
        re.compile(r"^/api/data-privacy-deletion-jobs$"),
        "deletion_job",
        "data_privacy_deletion",
    ),
]
_SORTS = {"id", "created", "updated", "email"}
_FILTER = re.compile(r"(equals|any|greater-than|less-than)\(([a-z_]+),(.+?)\)(?:,|$)")

Handler = Callable[[Call, dict[str, str]], Awaitable[tuple[int, Any]]]


class KlaviyoSandbox(VendorSandbox[KlaviyoSandboxConfig]):
    def __init__(self, config: KlaviyoSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.state = KlaviyoState(config, clock)
        self.base_url = "https://a.klaviyo.com"
        self.windows = {
            name: (
                FixedWindow(burst, config.burst_window_seconds),
                FixedWindow(steady, config.steady_window_seconds),
            )
            for name, (burst, steady) in {**RATE_LIMITS, **config.rate_limits}.items()
        }
        if config.seed_profiles:
            self.state.seed(config.seed_profiles)

    def connection_help(self, base_url: str) -> str:
        return (
            f"Klaviyo sandbox at {base_url}\n"
            f"  base_url: {base_url}\n"
            f"  api_key: {self.config.api_keys[0]}  (Authorization: Klaviyo-API-Key)"
        )

    # --- inspection --------------------------------------------------------------------

    @property
    def profiles(self) -> dict[str, Profile]:
        return self.state.profiles

    @property
    def events(self) -> list[Event]:
        return self.state.events

    def profile_by_email(self, email: str) -> Profile | None:
        return self.state.find({"attributes": {"email": email}})

    def seed_profiles(self, count: int, *, spacing_seconds: float = 1.0) -> list[Profile]:
        return self.state.seed(count, spacing_seconds=spacing_seconds)

    # --- pipeline ----------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return KlaviyoError(
                429, "throttled", "Request was throttled.", "Request was throttled."
            ).document()
        code = "error" if status >= 500 else "invalid"
        return KlaviyoError(status, code, "Injected fault.", f"Injected fault {status}").document()

    async def handle(self, call: Call) -> Response:
        self.base_url = f"http://{call.headers.get('host', 'a.klaviyo.com')}"
        headers: dict[str, str] = {}
        try:
            name, params, limits = _route(call)
            self._authenticate(call)
            if not _REVISION.match(call.headers.get("revision", "")):
                raise invalid("A valid 'revision' header (YYYY-MM-DD) is required.")
            if call.method == "POST" and content_type(call) not in (JSON_API, "application/json"):
                raise KlaviyoError(
                    415,
                    "unsupported_media_type",
                    "Unsupported media type.",
                    f"Unsupported media type '{content_type(call)}' in request.",
                )
            headers = self._limit(limits, f"{call.method} {call.path}")
            await self.admitted()
            handler: Handler = getattr(self, f"_{name}")
            status, body = await handler(call, params)
        except KlaviyoError as exc:
            extra = headers
            if exc.status == 429:
                extra = {"Retry-After": exc.pointer or "1"}
                exc.pointer = None
            return JSONResponse(exc.document(), exc.status, headers=extra, media_type=JSON_API)
        except BadBody as exc:
            error = KlaviyoError(400, "parse_error", "Malformed request.", exc.detail)
            return JSONResponse(error.document(), 400, headers=headers, media_type=JSON_API)
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status, headers=headers, media_type=JSON_API)

    def _authenticate(self, call: Call) -> None:
        scheme, _, key = call.headers.get("authorization", "").partition(" ")
        if scheme != "Klaviyo-API-Key" or not key.strip():
            raise KlaviyoError(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid private key.",
            )
        if key.strip() not in self.config.api_keys:
            raise KlaviyoError(
                401,
                "authentication_failed",
                "Incorrect authentication credentials.",
                "Incorrect authentication credentials.",
            )

    def _limit(self, limits: str, endpoint: str) -> dict[str, str]:
        burst, steady = self.windows[limits]
        now = self.clock.time()
        for window, name in ((burst, "burst"), (steady, "steady")):
            if window.is_full(now):
                self.violate(ViolationKind.RATE_LIMIT, endpoint, f"{name} limit {window.limit}")
                wait = up(window.retry_after(now))
                # The pointer slot carries the wait to the answer (no pointer on a 429).
                raise KlaviyoError(
                    429,
                    "throttled",
                    "Request was throttled.",
                    f"Request was throttled. Expected available in {wait} second.",
                    str(wait),
                )
        burst.add(now)
        steady.add(now)
        return {
            "RateLimit-Limit": str(steady.limit),
            "RateLimit-Remaining": str(steady.remaining(now)),
            "RateLimit-Reset": str(up(steady.retry_after(now))),
        }

    # --- endpoints ---------------------------------------------------------------------

    async def _profile_import(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        resource = check_profile(_data(call), "/data")
        profile, created = self.state.upsert(resource)
        return (201 if created else 200), {"data": profile.to_json(self.base_url)}

    async def _deletion_job(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        """Request Profile Deletion: exactly one of email, phone_number or id in the
        profile; 202 with no body. The sandbox deletes at once (Klaviyo does it later)."""
        data = _data(call)
        if data.get("type") != "data-privacy-deletion-job":
            raise KlaviyoError(
                409,
                "conflict",
                "Conflict.",
                "Type must be 'data-privacy-deletion-job'.",
                "/data/type",
            )
        profile = ((data.get("attributes") or {}).get("profile") or {}).get("data")
        if not isinstance(profile, dict) or profile.get("type") != "profile":
            raise invalid("A profile is required.", "/data/attributes/profile/data")
        given = {
            key: value
            for key, value in (
                ("email", (profile.get("attributes") or {}).get("email")),
                ("phone_number", (profile.get("attributes") or {}).get("phone_number")),
                ("id", profile.get("id")),
            )
            if value
        }
        if len(given) != 1:
            raise invalid(
                "Exactly one of email, phone_number or id identifies the profile.",
                "/data/attributes/profile/data",
            )
        ((key, value),) = given.items()
        if not isinstance(value, str):
            raise invalid(f"'{key}' must be a string.", "/data/attributes/profile/data")
        self.state.delete_matching(key, value)
        return 202, None

    async def _create_event(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        data = _data(call)
        if data.get("type") != "event":
            raise KlaviyoError(409, "conflict", "Conflict.", "Type must be 'event'.", "/data/type")
        attributes = data.get("attributes")
        if not isinstance(attributes, dict):
            raise invalid("'attributes' is required.", "/data/attributes")
        if not isinstance(attributes.get("properties"), dict):
            raise invalid("'properties' is required.", "/data/attributes/properties")
        metric = (attributes.get("metric") or {}).get("data")
        name = metric.get("attributes", {}).get("name") if isinstance(metric, dict) else None
        if not isinstance(metric, dict) or metric.get("type") != "metric" or not name:
            raise invalid("A metric with a name is required.", "/data/attributes/metric")
        if not isinstance(name, str) or len(name) >= 128:
            raise invalid(
                "Metric names are shorter than 128 characters.", "/data/attributes/metric"
            )
        profile_data = (attributes.get("profile") or {}).get("data")
        resource = check_profile(profile_data, "/data/attributes/profile/data", event=True)
        when = attributes.get("time")
        if when is not None and (not isinstance(when, str) or parse_datetime(when) is None):
            raise invalid("'time' must be an ISO 8601 date-time.", "/data/attributes/time")
        value = attributes.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise invalid("'value' must be a number.", "/data/attributes/value")
        profile, _ = self.state.upsert(resource)
        profile.last_event_date = self.clock.now()
        unique_id = attributes.get("unique_id")
        self.state.record_event(
            Event(profile.id, name, attributes["properties"], when, value, unique_id)
        )
        return 202, None

    async def _bulk_import(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        endpoint = f"{call.method} {call.path}"
        if len(call.body) > self.config.bulk_max_bytes:
            self.violate(ViolationKind.BATCH_SIZE, endpoint, f"{len(call.body)} bytes")
            raise KlaviyoError(413, "request_too_large", "Request too large.", "Payload over 5 MB.")
        data = _data(call)
        if data.get("type") != "profile-bulk-import-job":
            raise KlaviyoError(409, "conflict", "Conflict.", "Wrong resource type.", "/data/type")
        profiles = ((data.get("attributes") or {}).get("profiles") or {}).get("data")
        if not isinstance(profiles, list) or not profiles:
            raise invalid("'profiles' must hold a list of profiles.", "/data/attributes/profiles")
        if len(profiles) > self.config.bulk_max_profiles:
            self.violate(ViolationKind.BATCH_SIZE, endpoint, f"{len(profiles)} profiles")
            raise invalid(
                f"At most {self.config.bulk_max_profiles} profiles per job.",
                "/data/attributes/profiles/data",
            )
        job = BulkJob(
            self.state.new_id("01KJOB"),
            self.clock.now(),
            len(profiles),
            [],
            [],
            self.config.bulk_job_polls,
        )
        for index, resource in enumerate(profiles):
            pointer = f"/data/attributes/profiles/data/{index}"
            try:
                job.valid.append(check_profile(resource, pointer))
            except KlaviyoError as exc:
                exc.pointer = pointer
                job.errors.append((index, exc, resource))
        self.state.jobs[job.id] = job
        self._advance(job, poll=False)
        return 202, {"data": job.to_json(self.base_url), "links": {"self": call.path}}

    async def _get_job(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        job = self._job(params["job"])
        self._advance(job, poll=True)
        return 200, {"data": job.to_json(self.base_url), "links": {"self": call.path}}

    async def _import_errors(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        job = self._job(params["job"])
        errors = job.errors if job.status == "complete" else []
        size = self.config.import_errors_page_size
        start = int(call.query.get("page[cursor]", "0") or 0)
        page = errors[start : start + size]
        links: dict[str, str] = {"self": f"{self.base_url}{call.path}"}
        if start + size < len(errors):
            links["next"] = f"{self.base_url}{call.path}?page%5Bcursor%5D={start + size}"
        data = [
            {
                "type": "import-error",
                "id": f"{job.id}-{index}",
                "attributes": {
                    "code": exc.code,
                    "title": exc.title,
                    "detail": exc.detail,
                    "source": {"pointer": exc.pointer},
                    "original_payload": original,
                },
            }
            for index, exc, original in page
        ]
        return 200, {"data": data, "links": links}

    async def _get_profiles(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        query = call.query
        raw_size = query.get("page[size]", "20")
        if not raw_size.isdigit() or int(raw_size) < 1:
            raise invalid("page[size] must be a positive integer.", None)
        size = int(raw_size)
        if size > self.config.page_size_max:
            self.violate(ViolationKind.PAGE_SIZE, "GET /api/profiles", f"page[size]={size}")
            raise invalid(f"page[size] must be at most {self.config.page_size_max}.", None)
        sort = query.get("sort", "id")
        field_name = sort.lstrip("-")
        if field_name not in _SORTS:
            raise invalid(f"'{sort}' is not a valid sort field.", None)
        found = [p for p in self.state.profiles.values() if _matches(p, query.get("filter"))]
        found.sort(key=lambda p: _sort_key(p, field_name), reverse=sort.startswith("-"))
        cursor = query.get("page[cursor]")
        if cursor:
            after = _decode_cursor(cursor)
            found = [p for p in found if _after(_sort_key(p, field_name), after, sort)]
            self.counters.pages_served[cursor] += 1
        page = found[:size]
        fields = {f for f in query.get("fields[profile]", "").split(",") if f} or None
        links = {"self": f"{self.base_url}{call.path}?{urlencode(list(query.multi_items()))}"}
        if len(found) > size:
            next_query = [(k, v) for k, v in query.multi_items() if k != "page[cursor]"]
            next_query.append(("page[cursor]", _encode_cursor(_sort_key(page[-1], field_name))))
            links["next"] = f"{self.base_url}{call.path}?{urlencode(next_query)}"
        return 200, {"data": [p.to_json(self.base_url, fields) for p in page], "links": links}

    # --- helpers -----------------------------------------------------------------------

    def _job(self, job_id: str) -> BulkJob:
        job = self.state.jobs.get(job_id)
        if job is None:
            raise KlaviyoError(404, "not_found", "Not found.", f"Job {job_id} not found.")
        return job

    def _advance(self, job: BulkJob, *, poll: bool) -> None:
        if job.status == "complete":
            return
        if poll:
            job.polls_left -= 1
        if job.polls_left > 0:
            job.status = "processing" if poll else "queued"
            return
        for resource in job.valid:
            self.state.upsert(resource)
        job.status = "complete"
        job.completed_at = self.clock.now()


def _route(call: Call) -> tuple[str, dict[str, str], str]:
    path = call.path.rstrip("/")
    allowed = False
    for method, pattern, name, limits in _ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        if method == call.method:
            return name, match.groupdict(), limits
        allowed = True
    if allowed:
        raise KlaviyoError(405, "method_not_allowed", "Method not allowed.", "Method not allowed.")
    raise KlaviyoError(404, "not_found", "Not found.", "Not found.")


def _data(call: Call) -> dict[str, Any]:
    body = json_body(call)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise invalid("The body must be a JSON:API document with a 'data' object.", "/data")
    data: dict[str, Any] = body["data"]
    return data


def _sort_key(profile: Profile, field_name: str) -> tuple[str, str]:
    if field_name in ("created", "updated"):
        value: datetime = getattr(profile, field_name)
        return value.isoformat(), profile.id
    if field_name == "email":
        return str(profile.attributes.get("email") or ""), profile.id
    return profile.id, profile.id


def _after(key: tuple[str, str], cursor: tuple[str, str], sort: str) -> bool:
    return key < cursor if sort.startswith("-") else key > cursor


def _encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return str(raw[0]), str(raw[1])
    except (binascii.Error, ValueError, IndexError, TypeError):
        raise invalid("Invalid page cursor.", None) from None


def _matches(profile: Profile, expression: str | None) -> bool:
    if not expression:
        return True
    text = expression.strip()
    if text.startswith("and(") and text.endswith(")"):
        text = text[4:-1]
    conditions = _FILTER.findall(text)
    if not conditions:
        raise invalid(f"Invalid filter: {expression}", None)
    return all(_condition(profile, op, name, value) for op, name, value in conditions)


def _condition(profile: Profile, op: str, name: str, raw: str) -> bool:
    if name in ("created", "updated"):
        if op not in ("greater-than", "less-than"):
            raise invalid(f"'{op}' is not allowed on '{name}'.", None)
        moment = parse_datetime(raw.strip("'\""))
        if moment is None:
            raise invalid(f"Invalid date-time in filter: {raw}", None)
        value: datetime = getattr(profile, name)
        return value > moment if op == "greater-than" else value < moment
    if name not in ("id", "email", "phone_number", "external_id"):
        raise invalid(f"Filtering on '{name}' is not supported.", None)
    current = profile.id if name == "id" else profile.attributes.get(name)
    if op == "equals":
        return current == raw.strip("'\"")
    if op == "any":
        options = [v.strip().strip("'\"") for v in raw.strip("[]").split(",")]
        return current in options
    raise invalid(f"'{op}' is not allowed on '{name}'.", None)


def create_klaviyo_app(
    config: KlaviyoSandboxConfig | None = None, clock: Clock | None = None
) -> KlaviyoSandbox:
    return KlaviyoSandbox(config or KlaviyoSandboxConfig(), clock or SystemClock())
