"""Opaque, prefixed identifiers that sort by creation time (``evt_01J...``).

The body is a ULID: 48 bits of milliseconds and 80 random bits in Crockford base32.
Within one process ids created in the same millisecond still sort in creation order: the
random part counts up. It is the one id generator, and ingest calls it for every event
without a ``messageId``, so it is written for speed: within a millisecond all but the
random part's last 20 bits are encoded once and reused.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32, in ASCII order
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]
_RANDOM_MASK = (1 << 80) - 1
_lock = threading.Lock()
_last_ms = 0
_last_random = 0
_time_part = ""  # the 10 characters of ``_last_ms``
_head_bits = -1  # the random part's top 60 bits that ``_head`` encodes
_head = ""  # time + those 60 bits: the first 22 of the body's 26 characters


def _forget_after_fork() -> None:
    """A forked child (``renkei serve``'s processes) must not count on from its parent's
    last id: within the parent's millisecond, both would make the same ids."""
    global _lock, _last_ms
    _lock = threading.Lock()
    _last_ms = 0


os.register_at_fork(after_in_child=_forget_after_fork)


def new_id(prefix: str) -> str:
    global _last_ms, _last_random, _time_part, _head_bits, _head
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            _last_random = value = (_last_random + 1) & _RANDOM_MASK
        else:
            _last_ms = now_ms
            _last_random = value = int.from_bytes(os.urandom(10), "big") >> 1
            _time_part = "".join(_ALPHABET[(now_ms >> shift) & 31] for shift in range(45, -5, -5))
            _head_bits = -1
        pairs = _PAIRS
        if value >> 20 != _head_bits:
            _head_bits = value >> 20
            _head = _time_part + "".join(
                pairs[(value >> shift) & 1023] for shift in range(70, 10, -10)
            )
        body = _head + pairs[(value >> 10) & 1023] + pairs[value & 1023]
    return f"{prefix}_{body}"
