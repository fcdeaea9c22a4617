"""OpenTelemetry tracing: one trace per event, exported over OTLP/HTTP when configured.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
set; the other standard variables (``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``,
``OTEL_BSP_*``, ``OTEL_EXPORTER_OTLP_HEADERS``...) apply as the SDK reads them. Off, no SDK
is set up and every hot path tests :data:`ENABLED` before calling anything here, so no span
object is ever made.

An event's trace is named by the event id alone: its trace id and the id of its root span
(``renkei.ingest`` or ``renkei.publish``) are derived from the id (:func:`event_parent`). So
whatever works on an event later, in any process (a flow step, a delivery attempt an hour
later, a rerun), joins the event's trace without the trace context having to travel with
the queue's jobs or be stored beside the event.

Spans about work already done (the ingest, the group commit, fan-out) are recorded after the
fact with :func:`record`; spans around work (a flow step, a delivery attempt, a connector
call) are opened with :func:`span`, current while the work runs, so outbound requests carry
their ``traceparent`` (:func:`traceparent`) and nested calls become children.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

__all__ = [
    "ENABLED",
    "Span",
    "configure",
    "current_span",
    "event_parent",
    "flush",
    "now_ns",
    "record",
    "set_outcome",
    "shutdown",
    "span",
    "traceparent",
]

Span = trace.Span

ENABLED = False
"""True once :func:`configure` found an endpoint. Test it before any other call here."""

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_FAILED = frozenset({"error", "failed", "exhausted", "held"})
_SCOPE = InstrumentationScope("renkei")

_provider: TracerProvider | None = None
_processor: SpanProcessor | None = None
_tracer: trace.Tracer | None = None


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Set tracing up if an OTLP endpoint is configured (once per process); True if on."""
    global ENABLED, _provider, _processor, _tracer
    env = os.environ if environ is None else environ
    if ENABLED or not any(env.get(name) for name in _ENDPOINT_VARIABLES):
        return ENABLED
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
        env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    )
    # Imported here: the exporter pulls in requests and protobuf, which a process without
    # tracing never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "renkei"}))
    _provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    _processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    _provider.add_span_processor(_processor)
    _tracer = _provider.get_tracer("renkei")
    _sampled.cache_clear()
    ENABLED = True
    return True


def flush() -> None:
    """Export the spans buffered so far (blocks: call it off the event loop)."""
    if _provider is not None:
        _provider.force_flush()


def shutdown() -> None:
    """Export what is buffered and turn tracing off (process exit, tests)."""
    global ENABLED, _provider, _processor, _tracer
    ENABLED = False
    if _provider is not None:
        _provider.shutdown()
    _provider = _processor = _tracer = None


def now_ns() -> int:
    return time.time_ns()


def _event_ids(event_id: str) -> tuple[int, int]:
    digest = hashlib.sha256(b"renkei.event:" + event_id.encode()).digest()
    return int.from_bytes(digest[:16]) or 1, int.from_bytes(digest[16:24]) or 1


def event_parent(event_id: str) -> otel_context.Context:
    """The context whose span is the event's root: parent of all work on the event."""
    trace_id, span_id = _event_ids(event_id)
    flags = TraceFlags(TraceFlags.SAMPLED if _sampled(trace_id) else TraceFlags.DEFAULT)
    parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(parent))


@functools.lru_cache(maxsize=4096)
def _sampled(trace_id: int) -> bool:
    """Whether the event's trace is sampled: the sampler decides on the trace id alone, as
    for any root span (``OTEL_TRACES_SAMPLER``)."""
    if _provider is None:
        return False
    result = _provider.sampler.should_sample(None, trace_id, "renkei.event")
    return result.decision is Decision.RECORD_AND_SAMPLE


def record(
    name: str,
    *,
    event_id: str,
    start_ns: int,
    end_ns: int | None = None,
    root: bool = False,
    attributes: Mapping[str, Any] | None = None,
    outcome: str | None = None,
) -> None:
    """A finished span of the event's trace; ``root``: the event's root span itself.

    Handed to the exporter as it is, without the SDK's span machinery (sampling each span,
    checking each attribute, locks): ingest records three per event, and that machinery
    cost several times what storing the event does."""
    trace_id, root_id = _event_ids(event_id)
    if _processor is None or _provider is None or not _sampled(trace_id):
        return
    flags = TraceFlags(TraceFlags.SAMPLED)
    values = _attributes(event_id, attributes or {})
    if outcome is not None:
        values["renkei.outcome"] = outcome
    _processor.on_end(
        ReadableSpan(
            name,
            context=SpanContext(
                trace_id, root_id if root else _span_id(), is_remote=False, trace_flags=flags
            ),
            parent=None if root else SpanContext(trace_id, root_id, False, flags),
            resource=_provider.resource,
            attributes=values,
            status=Status(StatusCode.ERROR if outcome in _FAILED else StatusCode.UNSET),
            start_time=start_ns,
            end_time=end_ns or time.time_ns(),
            instrumentation_scope=_SCOPE,
        )
    )


def _span_id() -> int:
    return random.getrandbits(64) or 1


@contextlib.contextmanager
def span(
    name: str, *, event_id: str | None = None, attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span]:
    """A span, current while the block runs: a child of the event's root (``event_id``),
    else of the current span. An exception sets the error outcome and propagates."""
    assert _tracer is not None, "tracing.ENABLED was not checked"
    opened = _tracer.start_span(
        name,
        context=event_parent(event_id) if event_id is not None else None,
        attributes=_attributes(event_id, attributes or {}),
    )
    with trace.use_span(opened, end_on_exit=True, record_exception=True) as current:
        try:
            yield current
        except BaseException as exc:
            if _outcome_of(current) is None:  # the caller's own outcome stands
                set_outcome(current, "error", type(exc).__name__)
            raise


def set_outcome(current: trace.Span, outcome: str, error: str | None = None) -> None:
    current.set_attribute("renkei.outcome", outcome)
    if error is not None or outcome in _FAILED:
        current.set_status(Status(StatusCode.ERROR, error))


def _outcome_of(current: trace.Span) -> Any:
    attributes = getattr(current, "attributes", None) or {}
    return attributes.get("renkei.outcome")


def current_span() -> trace.Span:
    return trace.get_current_span()


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, for an outbound request's headers."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _attributes(event_id: str | None, attributes: Mapping[str, Any]) -> dict[str, Any]:
    values = {key: value for key, value in attributes.items() if value is not None}
    if event_id is not None:
        values["renkei.event.id"] = event_id
    return values
