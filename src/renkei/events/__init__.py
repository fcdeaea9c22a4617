"""Events in and kept: Segment-compatible tracking and inbound webhooks (parsing,
verification, mapping), the ingest pipeline that group-commits them to the event log
(``ingest.py``, ``log.py``), the sources, the profiles and identities built from them, and
the event history the API lists. The parsing modules re-exported here need no database."""

from renkei.events.envelope import Event, IdFactory, Ingested, format_timestamp, parse_timestamp
from renkei.events.errors import (
    BadRequest,
    ConfigError,
    IngestError,
    InvalidEvent,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    VerificationFailed,
)
from renkei.events.segment import Limits, decode_body, extract_write_key, to_events
from renkei.events.verification import Verifier, build_verifier
from renkei.events.webhook_mapping import WebhookMapping, build_mapping, parse_body

__all__ = [
    "BadRequest",
    "ConfigError",
    "Event",
    "IdFactory",
    "IngestError",
    "Ingested",
    "InvalidEvent",
    "Limits",
    "PayloadTooLarge",
    "Unauthorized",
    "UnsupportedMediaType",
    "VerificationFailed",
    "Verifier",
    "WebhookMapping",
    "build_mapping",
    "build_verifier",
    "decode_body",
    "extract_write_key",
    "format_timestamp",
    "parse_body",
    "parse_timestamp",
    "to_events",
]
